//! Path classes for command rules: system roots, disk devices, secrets, write targets.
//!
//! Split out of `command/rules.rs`; pure string checks on paths as written (no globbing, no
//! symlink resolution, `~` and `$HOME` taken literally).

use super::basename;

#[rustfmt::skip]
pub(super) const BLOCK_DEVICES: &[&str] = &[
    "/dev/sd", "/dev/nvme", "/dev/mmcblk", "/dev/hd", "/dev/vd", "/dev/xvd", "/dev/disk",
    "/dev/mapper/", "/dev/md", "/dev/dm-", "/dev/mem", "/dev/kmem", "/dev/port",
];

#[rustfmt::skip]
pub(super) const SYSTEM_DIRS: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "opt", "proc", "root", "sbin",
    "srv", "sys", "usr", "var",
];

#[rustfmt::skip]
pub(super) const RC_FILES: &[&str] = &[
    ".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zprofile", ".zshenv",
    ".kshrc", ".cshrc", ".tcshrc", "config.fish",
];

/// How sensitive a path is: 60 keys and credential stores, 45 `.env`/`.pem`, 30 `/etc/passwd`.
pub(super) fn secret_path(w: &str) -> u32 {
    let w = w.trim_start_matches('@').trim_start_matches('<');
    let w = w.split_once("=@").map_or(w, |(_, p)| p);
    let b = basename(w);
    if w.ends_with(".pub") {
        return 0;
    }
    let strong = [
        "/etc/shadow",
        "/etc/gshadow",
        ".ssh/id_",
        ".aws/credentials",
        ".git-credentials",
        ".netrc",
        ".docker/config.json",
        ".kube/config",
        ".pgpass",
        "/environ",
        ".gnupg/",
        "gh/hosts.yml",
        ".npmrc",
        ".pypirc",
        "/etc/ssh/ssh_host_",
    ];
    if strong.iter().any(|s| w.contains(s))
        || ["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"].contains(&b)
    {
        return 60;
    }
    if b == ".env"
        || b.starts_with(".env.")
        || b.ends_with(".pem")
        || b.ends_with(".key")
        || w.contains(".ssh/")
    {
        return 45;
    }
    if w == "/etc/passwd" {
        return 30;
    }
    0
}

/// `/`, `/*`, `~`, `$HOME`, or a top-level system directory.
pub(super) fn root_level(t: &str) -> bool {
    let t = t.trim_end_matches('*').trim_end_matches('/');
    if matches!(t, "" | "~" | "$HOME" | "${HOME}" | "/." | "/.." | "~root") {
        return true;
    }
    t.strip_prefix('/')
        .is_some_and(|d| SYSTEM_DIRS.contains(&d))
}

/// The rule for writing to `t`, given whether the command line fetches remote code.
pub(super) fn write_target(t: &str, fetchy: bool) -> Option<(&'static str, u32, &'static str)> {
    let b = basename(t);
    if BLOCK_DEVICES.iter().any(|d| t.starts_with(d)) {
        return Some(("destructive.write_device", 90, "writes to a disk device"));
    }
    if t.starts_with("/etc/sudoers") {
        return Some(("privesc.sudoers", 90, "writes the sudoers policy"));
    }
    if matches!(
        t,
        "/etc/passwd" | "/etc/shadow" | "/etc/group" | "/etc/gshadow"
    ) {
        return Some(("privesc.passwd", 90, "writes the user database"));
    }
    if b == "authorized_keys" || b == "authorized_keys2" {
        return Some(("privesc.authorized_keys", 85, "adds an ssh key for login"));
    }
    if t == "/etc/ld.so.preload" {
        return Some((
            "privesc.ld_preload",
            90,
            "preloads a library into every program",
        ));
    }
    let remote = if fetchy { 85 } else { 0 };
    if t.starts_with("/etc/cron") || t.starts_with("/var/spool/cron") {
        return Some(("persistence.cron", remote.max(55), "writes a cron job"));
    }
    if RC_FILES.contains(&b)
        || t.starts_with("/etc/profile")
        || t == "/etc/bash.bashrc"
        || t == "/etc/rc.local"
        || t.starts_with("/etc/zsh/")
    {
        return Some((
            "persistence.shell_rc",
            remote.max(25),
            "writes a shell start-up file",
        ));
    }
    if t.contains("/systemd/")
        && (t.starts_with("/etc/")
            || t.starts_with("/lib/")
            || t.starts_with("/usr/lib/")
            || t.contains(".config/systemd/"))
    {
        return Some((
            "persistence.systemd",
            remote.max(45),
            "writes a systemd unit",
        ));
    }
    if t == "/boot" || t.starts_with("/boot/") {
        return Some(("destructive.write_system", 80, "writes to /boot"));
    }
    if t.starts_with("/etc/") {
        return Some(("destructive.write_system", 60, "writes to /etc"));
    }
    None
}
