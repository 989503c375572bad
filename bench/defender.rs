//! Defender bench: the pure decision pipeline, in-process, through the library.
//!
//! Builds the default config (`Config::from_parts` with no file and no environment: edge profile,
//! default policy and scan limits) and the pipeline the gateway uses (`gate::pipeline_for`), then
//! decides inputs made from the labelled corpus in `tests/fixtures/defender/` (read at run time):
//!
//! 1. Decision latency (`Pipeline::assess`, one call timed with `Instant`): prompts of 1 KiB
//!    (target p99 ≤ 1 ms), prompts of 64 KiB and shell commands (informational), p50/p90/p99/max,
//!    each after a warm-up, benign and hostile inputs alternating.
//! 2. RSS growth over 100,000 decisions (1 KiB prompts and commands, cycling through the whole
//!    corpus): `VmRSS` / `RssAnon` of this process after a warm-up pass and after the run; target
//!    "none", taken as `RssAnon` growth ≤ 64 KiB (allocator noise).
//! 3. Throughput of that run: decisions per second.
//!
//! This is the pure pipeline only: no VirusTotal lookup, no `security.decision` event, no
//! quarantine write, no async executor. It is compiled into this bench with the `bench` cargo
//! profile, which inherits `release` (opt-level z, fat LTO, codegen-units 1) — the shipped code;
//! `bench/run.sh` does not apply its client-only profile overrides to this bench.
//!
//! Prints a Markdown table and one `BENCH_DEFENDER_JSON {...}` line; exits non-zero only when the
//! harness fails (corpus missing, config error, a deadline), never on a missed target.
//!
//! Usage: `bench/run.sh --defender-only`, or `cargo bench --bench defender -- [--quick]
//! [--samples N] [--decisions N] [--json-out F]`. See `bench/README.md`.

#[path = "common.rs"]
mod common;

use common::*;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_edge::config::{Config, Overrides};
use openclaw_edge::defender::gate::pipeline_for;
use openclaw_edge::defender::pipeline::{Action, Context, Pipeline};
use serde_json::{Value, json};

// Sizes.
const SMALL_BYTES: usize = 1024;
const LARGE_BYTES: usize = 64 * 1024;
/// Distinct 64 KiB prompts per class (each starts at another corpus text).
const LARGE_PER_CLASS: usize = 8;

// Counts (full / --quick).
const SAMPLES: usize = 2_000;
const QUICK_SAMPLES: usize = 500;
const LARGE_SAMPLES: usize = 200;
const QUICK_LARGE_SAMPLES: usize = 50;
const DECISIONS: usize = 100_000;
const QUICK_DECISIONS: usize = 20_000;
/// Untimed decisions before each latency phase.
const WARMUP: usize = 100;
/// `RssAnon` is also read every this many decisions of the RSS run.
const MEM_EVERY: usize = 10_000;
/// Everything together must finish within this.
const DEADLINE: Duration = Duration::from_secs(900);

// Targets.
const T_P99_1K_NS: u64 = 1_000_000;
const T_ANON_GROWTH_KIB: i64 = 64;

// The bench profile as Cargo.toml sets it (`[profile.bench] inherits = "release"`); the
// `CARGO_PROFILE_BENCH_*` variables seen at compile time override it, as they do for cargo.
const OPT_LEVEL: Option<&str> = option_env!("CARGO_PROFILE_BENCH_OPT_LEVEL");
const LTO: Option<&str> = option_env!("CARGO_PROFILE_BENCH_LTO");
const CODEGEN_UNITS: Option<&str> = option_env!("CARGO_PROFILE_BENCH_CODEGEN_UNITS");

fn main() {
    bench_main("defender", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = concat!(
    "usage: defender [--quick] [--samples N] [--decisions N] [--json-out F]\n",
    "  --samples N    timed decisions for the 1 KiB prompt and the command latency\n",
    "                 (default 2000, --quick 500; 64 KiB prompts: a tenth, at least 20)\n",
    "  --decisions N  decisions of the RSS / throughput run (default 100000, --quick 20000)\n",
    "  (--bin is not used: the pipeline runs in this process)"
);
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Num("--samples", 100, 1_000_000),
    Own::Num("--decisions", 1_000, 10_000_000),
];

// ---------------------------------------------------------------------------------------- corpus

/// Inputs by class: 1 KiB and 64 KiB prompts, commands.
struct Corpus {
    benign_1k: Vec<String>,
    inject_1k: Vec<String>,
    benign_64k: Vec<String>,
    inject_64k: Vec<String>,
    benign_cmd: Vec<String>,
    danger_cmd: Vec<String>,
    /// Lines read per fixture file (prompts benign, injection, commands benign, dangerous).
    lines: [usize; 4],
}

/// The `text` of every line of the fixture `name`.
fn texts(name: &str) -> R<Vec<String>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/defender")
        .join(name);
    let body = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut out = Vec::new();
    for (i, l) in body.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", p.display(), i + 1))?;
        let t = v["text"]
            .as_str()
            .ok_or_else(|| format!("{}:{}: no \"text\"", p.display(), i + 1))?;
        if !t.is_empty() {
            out.push(t.to_string());
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no texts", p.display()));
    }
    Ok(out)
}

/// Texts from `start` on (wrapping), joined by newlines, cut to `size` bytes at a character
/// boundary and padded with spaces to exactly `size` bytes.
fn sized(texts: &[String], start: usize, size: usize) -> String {
    let mut s = String::with_capacity(size + 512);
    let mut j = start;
    while s.len() < size {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&texts[j % texts.len()]);
        j += 1;
    }
    let mut cut = size;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    while s.len() < size {
        s.push(' ');
    }
    s
}

impl Corpus {
    fn load() -> R<Corpus> {
        let bp = texts("prompts_benign.jsonl")?;
        let ip = texts("prompts_injection.jsonl")?;
        let bc = texts("commands_benign.jsonl")?;
        let dc = texts("commands_dangerous.jsonl")?;
        // One 1 KiB prompt per corpus text (starting there), so a cycle covers every text.
        let small = |t: &[String]| (0..t.len()).map(|j| sized(t, j, SMALL_BYTES)).collect();
        let large = |t: &[String]| {
            (0..LARGE_PER_CLASS)
                .map(|k| sized(t, k * t.len() / LARGE_PER_CLASS, LARGE_BYTES))
                .collect()
        };
        Ok(Corpus {
            benign_1k: small(&bp),
            inject_1k: small(&ip),
            benign_64k: large(&bp),
            inject_64k: large(&ip),
            lines: [bp.len(), ip.len(), bc.len(), dc.len()],
            benign_cmd: bc,
            danger_cmd: dc,
        })
    }
}

// ------------------------------------------------------------------------------------------ run

/// The `i`th input of the RSS run: the four classes take turns, each cycling through its pool.
fn mixed(c: &Corpus, i: usize) -> Action<'_> {
    let k = i / 4;
    match i % 4 {
        0 => Action::Prompt(&c.benign_1k[k % c.benign_1k.len()]),
        1 => Action::Command(&c.benign_cmd[k % c.benign_cmd.len()]),
        2 => Action::Prompt(&c.inject_1k[k % c.inject_1k.len()]),
        _ => Action::Command(&c.danger_cmd[k % c.danger_cmd.len()]),
    }
}

/// The `i`th of two pools taking turns (benign first), each cycling.
fn alternate<'a>(a: &'a [String], b: &'a [String], i: usize) -> &'a str {
    let pool = if i % 2 == 0 { a } else { b };
    &pool[(i / 2) % pool.len()]
}

#[derive(Debug, Clone, Copy)]
struct Latency {
    n: usize,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
    mean: u64,
    /// Decisions (of all timed) whose verdict was review or block.
    flagged: usize,
}

#[derive(Debug)]
struct RssRun {
    decisions: usize,
    warmup: usize,
    wall: Duration,
    before: Mem,
    after: Mem,
    /// `RssAnon` (KiB) every `MEM_EVERY` decisions.
    anon_trace: Vec<u64>,
    /// Per class (benign prompt, benign command, injection prompt, dangerous command, as in
    /// `mixed`): allow, review, block.
    verdicts: [[usize; 3]; 4],
}

struct Measured {
    start: Mem,
    setup: Duration,
    small: Latency,
    large: Latency,
    cmd: Latency,
    rss: RssRun,
    end: Mem,
    corpus_lines: [usize; 4],
    pools: [usize; 6],
}

fn self_mem() -> R<Mem> {
    status_mem(std::process::id())
}

fn check(deadline: Instant) -> R<()> {
    if Instant::now() > deadline {
        return Err(format!(
            "deadline of {} s passed",
            DEADLINE.as_secs_f64() as u64
        ));
    }
    Ok(())
}

fn verdict_index(a: &openclaw_edge::defender::pipeline::Assessment) -> usize {
    use openclaw_edge::defender::Verdict;
    match a.verdict {
        Verdict::Allow => 0,
        Verdict::Review => 1,
        Verdict::Block => 2,
    }
}

/// `warmup` untimed then `n` timed decisions of `input(i)`.
fn latency<'a>(
    p: &Pipeline,
    n: usize,
    warmup: usize,
    deadline: Instant,
    input: impl Fn(usize) -> Action<'a>,
) -> R<Latency> {
    let ctx = Context::default();
    for i in 0..warmup {
        check(deadline)?;
        black_box(p.assess(&input(i), &ctx));
    }
    let mut v = Vec::with_capacity(n);
    let mut flagged = 0;
    for i in 0..n {
        check(deadline)?;
        let action = input(warmup + i);
        let t0 = Instant::now();
        let a = p.assess(black_box(&action), &ctx);
        let ns = t0.elapsed().as_nanos() as u64;
        v.push(ns);
        if verdict_index(&a) > 0 {
            flagged += 1;
        }
        black_box(a);
    }
    let sum: u64 = v.iter().sum();
    v.sort_unstable();
    Ok(Latency {
        n,
        p50: percentile(&v, 0.50),
        p90: percentile(&v, 0.90),
        p99: percentile(&v, 0.99),
        max: v.last().copied().unwrap_or(0),
        mean: sum / n.max(1) as u64,
        flagged,
    })
}

fn rss_run(p: &Pipeline, c: &Corpus, decisions: usize, deadline: Instant) -> R<RssRun> {
    let ctx = Context::default();
    // Warm-up: every input of every pool once (the longest pool sets the length of the cycle).
    let longest = [
        c.benign_1k.len(),
        c.inject_1k.len(),
        c.benign_cmd.len(),
        c.danger_cmd.len(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    let warmup = 4 * longest;
    for i in 0..warmup {
        check(deadline)?;
        black_box(p.assess(&mixed(c, i), &ctx));
    }
    let mut anon_trace = Vec::with_capacity(decisions / MEM_EVERY + 1);
    let mut verdicts = [[0usize; 3]; 4];
    let before = self_mem()?;
    let t0 = Instant::now();
    for i in 0..decisions {
        if i % 1024 == 0 {
            check(deadline)?;
        }
        let a = p.assess(&mixed(c, i), &ctx);
        verdicts[i % 4][verdict_index(&a)] += 1;
        black_box(a);
        if (i + 1) % MEM_EVERY == 0 {
            anon_trace.push(self_mem()?.rss_anon);
        }
    }
    let wall = t0.elapsed();
    let after = self_mem()?;
    Ok(RssRun {
        decisions,
        warmup,
        wall,
        before,
        after,
        anon_trace,
        verdicts,
    })
}

fn run(f: &Flags) -> R<()> {
    if f.bin.is_some() {
        eprintln!("defender bench: --bin ignored (the pipeline runs in this process)");
    }
    let samples = f
        .num("--samples")
        .unwrap_or(if f.quick { QUICK_SAMPLES } else { SAMPLES });
    let large_samples = match f.num("--samples") {
        Some(n) => (n / 10).max(20),
        None if f.quick => QUICK_LARGE_SAMPLES,
        None => LARGE_SAMPLES,
    };
    let decisions =
        f.num("--decisions")
            .unwrap_or(if f.quick { QUICK_DECISIONS } else { DECISIONS });
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let mut info = RunInfo {
        date: utc_now(),
        machine: machine_info(),
        load_start: read_trim("/proc/loadavg"),
        load_end: String::new(),
        bin: exe,
        bin_note: Some(build_profile()),
        version: format!(
            "openclaw-edge {} library, in-process",
            env!("CARGO_PKG_VERSION")
        ),
        git: git_revision(),
        config: None,
        quick: f.quick && f.num("--samples").is_none() && f.num("--decisions").is_none(),
    };
    eprintln!(
        "defender bench: {samples} timed decisions (1 KiB prompts, commands), {large_samples} \
         (64 KiB prompts), {decisions} for RSS / throughput; {}",
        build_profile()
    );

    let deadline = Instant::now() + DEADLINE;
    let start = self_mem()?;
    let t0 = Instant::now();
    let config = Config::from_parts(None, None, "", "bench", &Overrides::default(), &|_| None)
        .map_err(|e| format!("default config: {e}"))?;
    let pipeline = pipeline_for(&config);
    let corpus = Corpus::load()?;
    let setup = t0.elapsed();
    let c = &corpus;

    // RSS and throughput first, so the "before" reading follows only its own warm-up.
    eprintln!("defender bench: RSS / throughput run, {decisions} decisions");
    let rss = rss_run(&pipeline, c, decisions, deadline)?;
    eprintln!("defender bench: latency, 1 KiB prompts");
    let small = latency(&pipeline, samples, WARMUP, deadline, |i| {
        Action::Prompt(alternate(&c.benign_1k, &c.inject_1k, i))
    })?;
    eprintln!("defender bench: latency, commands");
    let cmd = latency(&pipeline, samples, WARMUP, deadline, |i| {
        Action::Command(alternate(&c.benign_cmd, &c.danger_cmd, i))
    })?;
    eprintln!("defender bench: latency, 64 KiB prompts");
    let large = latency(
        &pipeline,
        large_samples,
        2 * LARGE_PER_CLASS,
        deadline,
        |i| Action::Prompt(alternate(&c.benign_64k, &c.inject_64k, i)),
    )?;
    let end = self_mem()?;
    info.load_end = read_trim("/proc/loadavg");
    let m = Measured {
        start,
        setup,
        small,
        large,
        cmd,
        rss,
        end,
        corpus_lines: c.lines,
        pools: [
            c.benign_1k.len(),
            c.inject_1k.len(),
            c.benign_64k.len(),
            c.inject_64k.len(),
            c.benign_cmd.len(),
            c.danger_cmd.len(),
        ],
    };
    let (table, j) = render(&info, &m);
    print_report(&table, "BENCH_DEFENDER_JSON", &j, f.json_out.as_deref())
}

/// How the code under test was compiled (the bench profile and its overrides, target, checks).
fn build_profile() -> String {
    let overridden = OPT_LEVEL.is_some() || LTO.is_some() || CODEGEN_UNITS.is_some();
    format!(
        "cargo profile `bench` (inherits `release`): opt-level {}, lto {}, codegen-units {}{}; \
         debug-assertions {}; {}-{} ({} malloc)",
        OPT_LEVEL.unwrap_or("z"),
        LTO.unwrap_or("fat"),
        CODEGEN_UNITS.unwrap_or("1"),
        if overridden {
            " (CARGO_PROFILE_BENCH_* override: NOT the shipped profile)"
        } else {
            ", as shipped"
        },
        if cfg!(debug_assertions) { "on" } else { "off" },
        std::env::consts::ARCH,
        if cfg!(target_env = "musl") {
            "musl"
        } else {
            "gnu"
        },
        if cfg!(target_env = "musl") {
            "musl"
        } else {
            "glibc"
        },
    )
}

// ---------------------------------------------------------------------------------------- report

/// A duration in ns as µs, or as ms from 1 ms on.
fn us(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} µs", ns as f64 / 1e3)
    }
}

fn lat_cell(l: &Latency) -> String {
    format!(
        "{} / {} / {} ({})",
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.max)
    )
}

fn lat_json(l: &Latency) -> Value {
    json!({"decisions": l.n, "p50_us": l.p50 as f64 / 1e3, "p90_us": l.p90 as f64 / 1e3,
           "p99_us": l.p99 as f64 / 1e3, "max_us": l.max as f64 / 1e3,
           "mean_us": l.mean as f64 / 1e3, "flagged": l.flagged})
}

fn kib(k: u64) -> String {
    format!("{k} KiB")
}

fn render(info: &RunInfo, m: &Measured) -> (String, Value) {
    let r = &m.rss;
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut row = |fig: String, val: String, target: &str, st: &str, inputs: String| {
        rows.push([fig, val, target.into(), st.into(), inputs]);
    };
    let pass_p99 = m.small.p99 <= T_P99_1K_NS;
    let half = |l: &Latency, a: &str, b: &str| {
        format!(
            "{} decisions, alternating {a} / {b} (50 % / 50 %); {} flagged review/block",
            l.n, l.flagged
        )
    };
    row(
        "Decision latency, 1 KiB prompts: p50 / p90 / p99 (max)".into(),
        lat_cell(&m.small),
        "p99 ≤ 1 ms",
        verdict(pass_p99),
        half(&m.small, "benign", "injection"),
    );
    row(
        "Decision latency, 64 KiB prompts: p50 / p90 / p99 (max)".into(),
        lat_cell(&m.large),
        "informational",
        "–",
        half(&m.large, "benign", "injection"),
    );
    row(
        "Decision latency, commands: p50 / p90 / p99 (max)".into(),
        lat_cell(&m.cmd),
        "informational",
        "–",
        half(&m.cmd, "benign", "dangerous"),
    );
    let growth_anon = r.after.rss_anon as i64 - r.before.rss_anon as i64;
    let growth_rss = r.after.rss as i64 - r.before.rss as i64;
    let pass_rss = growth_anon <= T_ANON_GROWTH_KIB;
    let mix = format!(
        "{} decisions after {} warm-up: 1 KiB benign prompt, benign command, 1 KiB injection \
         prompt, dangerous command in turn (25 % each), cycling the corpus",
        r.decisions, r.warmup
    );
    row(
        format!("RssAnon growth over {} decisions", r.decisions),
        format!(
            "{growth_anon:+} KiB ({} → {})",
            kib(r.before.rss_anon),
            kib(r.after.rss_anon)
        ),
        "none: ≤ +64 KiB (allocator noise)",
        verdict(pass_rss),
        mix.clone(),
    );
    row(
        format!("VmRSS growth over {} decisions", r.decisions),
        format!(
            "{growth_rss:+} KiB ({} → {})",
            kib(r.before.rss),
            kib(r.after.rss)
        ),
        "informational",
        "–",
        "includes file pages (the bench binary) touched during the run".into(),
    );
    let (lo, hi) = (
        r.anon_trace.iter().min().copied().unwrap_or(0),
        r.anon_trace.iter().max().copied().unwrap_or(0),
    );
    row(
        format!("RssAnon every {MEM_EVERY} decisions: min – max (last)"),
        format!(
            "{} – {} ({})",
            kib(lo),
            kib(hi),
            kib(r.anon_trace.last().copied().unwrap_or(0))
        ),
        "informational",
        "–",
        format!("{} readings of /proc/self/status", r.anon_trace.len()),
    );
    let secs = r.wall.as_secs_f64();
    let per_sec = r.decisions as f64 / secs.max(1e-9);
    row(
        "Throughput (same run, one thread)".into(),
        format!(
            "{per_sec:.0} decisions/s ({:.2} s; mean {:.1} µs)",
            secs,
            secs * 1e6 / r.decisions.max(1) as f64
        ),
        "informational",
        "–",
        mix,
    );
    let flagged = |v: &[usize; 3]| {
        let n: usize = v.iter().sum();
        format!("{:.0} %", (v[1] + v[2]) as f64 * 100.0 / n.max(1) as f64)
    };
    row(
        "Flagged (review or block) in that run: benign prompts / injection prompts / benign \
         commands / dangerous commands"
            .into(),
        format!(
            "{} / {} / {} / {}",
            flagged(&r.verdicts[0]),
            flagged(&r.verdicts[2]),
            flagged(&r.verdicts[1]),
            flagged(&r.verdicts[3])
        ),
        "informational",
        "–",
        "sanity check: the detectors ran (detection rates are the corpus tests' business)".into(),
    );
    row(
        "Process memory: start / after the RSS run / end (VmHWM at end)".into(),
        format!(
            "RSS {} / {} / {} (HWM {}); anon {} / {} / {}",
            kib(m.start.rss),
            kib(r.after.rss),
            kib(m.end.rss),
            kib(m.end.hwm),
            kib(m.start.rss_anon),
            kib(r.after.rss_anon),
            kib(m.end.rss_anon)
        ),
        "informational",
        "–",
        "the bench process: pipeline + corpus pools + latency sample buffers".into(),
    );

    let mut out = info.header("openclaw-edge defender bench");
    out.push_str(
        "- what: the pure pipeline (`gate::pipeline_for(&Config::from_parts(None, None, \"\", …))` \
         → `Pipeline::assess(&Action::Prompt | Action::Command, &Context::default())`), \
         in-process, one thread: no VirusTotal, no `security.decision` event emission, no \
         quarantine I/O, no executor\n",
    );
    out.push_str(&format!(
        "- inputs: tests/fixtures/defender/ (prompts {} benign + {} injection texts, commands \
         {} benign + {} dangerous); prompts are corpus texts from a given start joined by \
         newlines, cut at a character boundary and space-padded to exactly 1,024 / 65,536 bytes \
         ({} + {} of 1 KiB, {} + {} of 64 KiB); commands as they are ({} + {}); set-up \
         (config, pipeline, corpus) {:.1} ms\n",
        m.corpus_lines[0],
        m.corpus_lines[1],
        m.corpus_lines[2],
        m.corpus_lines[3],
        m.pools[0],
        m.pools[1],
        m.pools[2],
        m.pools[3],
        m.pools[4],
        m.pools[5],
        m.setup.as_secs_f64() * 1000.0
    ));
    out.push_str(&format!(
        "- order: RSS / throughput run first (warm-up, read, run, read), then the latency phases \
         ({WARMUP} untimed decisions before each, {} for 64 KiB); latency = `Instant` around one \
         `assess` call, nearest-rank percentiles{}\n",
        2 * LARGE_PER_CLASS,
        if info.quick {
            "; --quick: fewer decisions"
        } else {
            ""
        }
    ));
    out.push('\n');
    let head = ["Figure", "Measured", "Target", "Status", "Inputs"];
    out.push_str(&markdown_table(head, &rows));

    let mem = |x: &Mem| json!({"rss_kib": x.rss, "rss_anon_kib": x.rss_anon, "hwm_kib": x.hwm});
    let verd = |v: &[usize; 3]| json!({"allow": v[0], "review": v[1], "block": v[2]});
    let j = info.with_json(json!({
        "bench": "defender",
        "pipeline": "pure (no VirusTotal, no events, no quarantine I/O)",
        "build_profile": build_profile(),
        "prompt_1k": lat_json(&m.small),
        "prompt_64k": lat_json(&m.large),
        "command": lat_json(&m.cmd),
        "mix": {"latency": "alternating benign / hostile, 50 % each",
                "rss_run": "benign prompt, benign command, injection prompt, dangerous command in turn"},
        "rss_run": {
            "decisions": r.decisions, "warmup": r.warmup, "wall_s": secs,
            "decisions_per_s": per_sec,
            "before": mem(&r.before), "after": mem(&r.after),
            "growth_rss_anon_kib": growth_anon, "growth_rss_kib": growth_rss,
            "rss_anon_trace_kib": r.anon_trace, "trace_every": MEM_EVERY,
            "verdicts": {
                "benign_prompt": verd(&r.verdicts[0]), "benign_command": verd(&r.verdicts[1]),
                "injection_prompt": verd(&r.verdicts[2]), "dangerous_command": verd(&r.verdicts[3]),
            },
        },
        "mem": {"start": mem(&m.start), "end": mem(&m.end)},
        "setup_ms": m.setup.as_secs_f64() * 1000.0,
        "targets": {"prompt_1k_p99_us": T_P99_1K_NS / 1000, "rss_anon_growth_kib": T_ANON_GROWTH_KIB},
        "pass": {"prompt_1k_p99": pass_p99, "rss_growth": pass_rss},
    }));
    (out, j)
}
