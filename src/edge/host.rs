//! Host facts for `edge.acceleration.status` and `edge.enclave.status`: what this box really has.
//!
//! Read from `/proc/cpuinfo`, `/proc/meminfo`, device nodes under `/dev` and IMA's securityfs
//! file; nothing is guessed and nothing is cached. The parsers are pure (unit-tested on captured
//! x86 and ARM text); `probe_*` do the reading under a root directory (`/` in production, a temp
//! tree in tests) and are blocking: run them on the pool.

use std::path::Path;

use serde_json::{Value, json};

/// CPU facts parsed from `/proc/cpuinfo`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cpu {
    /// `model name` (x86) or `Model`/`Hardware` (ARM boards), if present.
    pub model: Option<String>,
    /// `processor` entries.
    pub logical_cpus: usize,
    /// `flags` (x86) or `Features` (ARM) of the first processor.
    pub features: Vec<String>,
}

/// Parses `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> Cpu {
    let mut cpu = Cpu::default();
    let mut board = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => cpu.logical_cpus += 1,
            "model name" if cpu.model.is_none() && !v.is_empty() => cpu.model = Some(v.into()),
            "Model" | "Hardware" if board.is_none() && !v.is_empty() => board = Some(v.to_string()),
            "flags" | "Features" if cpu.features.is_empty() => {
                cpu.features = v.split_whitespace().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    if cpu.model.is_none() {
        cpu.model = board;
    }
    cpu
}

/// `(MemTotal, MemAvailable)` in KiB from `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> (Option<u64>, Option<u64>) {
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    (get("MemTotal"), get("MemAvailable"))
}

/// Feature flags worth naming for inference on a small box (present ones only, in this order).
const INTERESTING: &[&str] = &[
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx2",
    "fma",
    "f16c",
    "avx",
    "sse4_2",
    "neon",
    "asimd",
    "asimddp",
    "asimdhp",
    "fphp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
    "vfpv4",
    "idiva",
];

/// Accelerator device nodes: (name prefix under `/dev`, kind).
const ACCEL_NODES: &[(&str, &str)] = &[
    ("dri/renderD", "gpu"),
    ("nvidia", "gpu"),
    ("kfd", "gpu"),
    ("mali", "gpu"),
    ("accel/accel", "npu"),
    ("rknpu", "npu"),
    ("apex_", "tpu"),
    ("galcore", "npu"),
    ("hailo", "npu"),
    ("vchiq", "videocore"),
];

fn list_dev(root: &Path, prefix: &str) -> Vec<String> {
    let (dir, stem) = match prefix.rsplit_once('/') {
        Some((d, s)) => (root.join("dev").join(d), s),
        None => (root.join("dev"), prefix),
    };
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(stem))
                .map(|n| {
                    dir.join(n)
                        .strip_prefix(root)
                        .map_or_else(|_| String::new(), |p| format!("/{}", p.display()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `edge.acceleration.status` facts under `root`.
pub fn probe_acceleration(root: &Path) -> Value {
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).unwrap_or_default();
    let cpu = parse_cpuinfo(&cpuinfo);
    let (total, avail) = parse_meminfo(&meminfo);
    let usable = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let notable: Vec<&str> = INTERESTING
        .iter()
        .copied()
        .filter(|f| cpu.features.iter().any(|x| x == f))
        .collect();
    let devices: Vec<Value> = ACCEL_NODES
        .iter()
        .flat_map(|(prefix, kind)| {
            list_dev(root, prefix)
                .into_iter()
                .map(move |p| json!({"path": p, "kind": kind}))
        })
        .collect();
    json!({
        "arch": std::env::consts::ARCH,
        "cpu": {
            "model": cpu.model,
            "logicalCpus": cpu.logical_cpus,
            "usableCpus": usable,
            "notableFeatures": notable,
            "featureCount": cpu.features.len(),
        },
        "memory": {"totalKiB": total, "availableKiB": avail},
        "devices": devices,
        "accelerated": !devices.is_empty(),
    })
}

/// `edge.enclave.status` host facts under `root` (the proof part is the caller's).
pub fn probe_enclave(root: &Path) -> Value {
    let tpm: Vec<String> = list_dev(root, "tpmrm")
        .into_iter()
        .chain(
            list_dev(root, "tpm")
                .into_iter()
                .filter(|p| !p.contains("tpmrm")),
        )
        .collect();
    let sev = list_dev(root, "sev-guest");
    let sgx: Vec<String> = list_dev(root, "sgx_enclave")
        .into_iter()
        .chain(list_dev(root, "sgx/enclave"))
        .collect();
    let ima_file = root.join("sys/kernel/security/ima/ascii_runtime_measurements");
    let ima = match std::fs::metadata(&ima_file) {
        Ok(_) => match std::fs::File::open(&ima_file) {
            Ok(_) => "readable",
            Err(_) => "present-unreadable",
        },
        Err(_) => "absent",
    };
    json!({
        "tpm": {"present": !tpm.is_empty(), "devices": tpm},
        "sevGuest": {"present": !sev.is_empty(), "devices": sev},
        "sgx": {"present": !sgx.is_empty(), "devices": sgx},
        "ima": {"measurements": ima},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu sse4_2 avx avx2 fma f16c\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n";
    const PI: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nFeatures\t: fp asimd\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";

    #[test]
    fn cpuinfo_of_x86_and_a_raspberry_pi() {
        let c = parse_cpuinfo(X86);
        assert_eq!(c.logical_cpus, 2);
        assert_eq!(c.model.as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert!(c.features.contains(&"avx2".to_string()));
        let p = parse_cpuinfo(PI);
        assert_eq!(p.logical_cpus, 2);
        assert_eq!(p.model.as_deref(), Some("BCM2835"));
        assert_eq!(p.features, ["fp", "asimd", "evtstrm", "crc32", "cpuid"]);
    }

    #[test]
    fn meminfo_totals() {
        let m = "MemTotal:        3884360 kB\nMemFree:  1 kB\nMemAvailable:    2791832 kB\n";
        assert_eq!(parse_meminfo(m), (Some(3_884_360), Some(2_791_832)));
        assert_eq!(parse_meminfo(""), (None, None));
    }

    #[test]
    fn devices_are_found_under_the_root_and_absent_ones_reported_absent() {
        let root = std::env::temp_dir().join(format!(
            "oce-host-{}",
            crate::ids::hex(&crate::ids::random_bytes::<6>())
        ));
        std::fs::create_dir_all(root.join("dev/dri")).unwrap();
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(root.join("dev/dri/renderD128"), b"").unwrap();
        std::fs::write(root.join("dev/tpmrm0"), b"").unwrap();
        std::fs::write(root.join("dev/tpm0"), b"").unwrap();
        std::fs::write(root.join("proc/cpuinfo"), PI).unwrap();
        let a = probe_acceleration(&root);
        assert_eq!(
            a["devices"],
            json!([{"path": "/dev/dri/renderD128", "kind": "gpu"}])
        );
        assert_eq!(a["cpu"]["notableFeatures"], json!(["asimd"]));
        assert_eq!(
            a["memory"]["totalKiB"],
            Value::Null,
            "no meminfo: unknown, not zero"
        );
        let e = probe_enclave(&root);
        assert_eq!(e["tpm"]["devices"], json!(["/dev/tpmrm0", "/dev/tpm0"]));
        assert_eq!(e["sgx"]["present"], false);
        assert_eq!(e["ima"]["measurements"], "absent");
        let _ = std::fs::remove_dir_all(&root);
    }
}
