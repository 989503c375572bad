// Edge methods against the real binary: the host facts are this machine's, and edge methods that
// cannot give real answers yet are neither advertised nor answered with anything but an error.
mod common;

use common::{ALL_SCOPES, Gateway};

#[test]
fn acceleration_and_enclave_status_describe_this_host() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    let a = c.call("edge.acceleration.status", None).unwrap();
    assert_eq!(a["arch"], std::env::consts::ARCH);
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(a["cpu"]["logicalCpus"].as_u64(), Some(cpus as u64), "{a}");
    assert!(a["cpu"]["usableCpus"].as_u64().unwrap() >= 1);
    let total = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = total
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(a["memory"]["totalKiB"].as_u64(), Some(kib), "{a}");
    assert_eq!(
        a["accelerated"],
        !a["devices"].as_array().unwrap().is_empty()
    );
    let e = c.call("edge.enclave.status", None).unwrap();
    let tpm =
        std::path::Path::new("/dev/tpm0").exists() || std::path::Path::new("/dev/tpmrm0").exists();
    assert_eq!(e["tpm"]["present"], tpm, "{e}");
    assert!(e["lastProof"].is_null(), "never proved: no fake proof");
    assert_eq!(e["proveAvailable"], false);
    let bad = c
        .call(
            "edge.acceleration.status",
            Some(serde_json::json!({"x": 1})),
        )
        .unwrap_err();
    assert_eq!(bad["code"], "INVALID_REQUEST");
    // Left out (see README "Edge methods"): an error, not a payload.
    for m in [
        "edge.wasm.marketplace.list",
        "edge.swarm.plan",
        "edge.multimodal.inspect",
        "edge.homomorphic.compute",
        "edge.finetune.cluster.plan",
        "edge.quantum.status",
    ] {
        let err = c.call(m, None).unwrap_err();
        assert_eq!(err["code"], "INVALID_REQUEST", "{m}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("unknown method"),
            "{m}: {err}"
        );
    }
}
