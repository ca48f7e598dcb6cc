//! What this host can enforce (`brig doctor`).
//!
//! Every check asks the kernel directly (a throwaway user namespace, the Landlock ABI query,
//! seccomp's list of actions, the cgroup hierarchies this process could write) rather than
//! guessing from version numbers, and every missing feature comes with the fix brig knows for
//! it.

use brig_sandbox::{Capabilities, Feature, Layer};

use crate::sys::{self, Forked};

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Tries to create a user namespace (and mount/PID namespaces in it) in a throwaway child.
fn userns_works() -> Result<(), String> {
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET;
    match sys::clone_fork(flags) {
        Ok(Forked::Child) => sys::exit_now(0),
        Ok(Forked::Parent(pid)) => match sys::waitpid(pid, 0) {
            Ok((_, st)) if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 => Ok(()),
            Ok((_, st)) => Err(format!("test child ended with status {st}")),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

fn userns_fix() -> String {
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+): `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or install the profile granting `userns` to brig: contrib/apparmor/brig (docs/linux.md#hosts-without-user-namespaces)".into()
    } else if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        "`sudo sysctl kernel.unprivileged_userns_clone=1`".into()
    } else if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        "`sudo sysctl user.max_user_namespaces=15000`".into()
    } else {
        "inside a container: allow clone/unshare of user namespaces (e.g. docker --security-opt seccomp=unconfined, or run brig on the host)".into()
    }
}

/// Probes the host.
pub fn probe() -> Capabilities {
    let mut features = Vec::new();
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into());
    let (uid, _) = sys::ids();

    let userns = userns_works();
    features.push(Feature {
        name: "user-namespaces",
        available: userns.is_ok(),
        detail: match &userns {
            Ok(()) => format!("usable by uid {uid} (user, mount, pid and network namespaces)"),
            Err(e) => format!("clone(CLONE_NEWUSER) failed: {e}"),
        },
        fix: userns.as_ref().err().map(|_| userns_fix()),
    });

    let abi = sys::landlock_abi();
    features.push(Feature {
        name: "landlock",
        available: abi >= 1,
        detail: if abi >= 1 {
            format!("ABI {abi}{}", if abi < 6 { " (below 6: no abstract-socket/signal scoping)" } else { "" })
        } else {
            "not enabled".into()
        },
        fix: (abi < 1).then(|| {
            "Linux 5.13+ with CONFIG_SECURITY_LANDLOCK=y and `landlock` in the `lsm=` kernel boot parameter".to_string()
        }),
    });

    let actions = read("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let seccomp_ok = actions.contains("kill_process") && actions.contains("errno");
    let notif_ok = actions.contains("user_notif");
    features.push(Feature {
        name: "seccomp",
        available: seccomp_ok,
        detail: if actions.is_empty() {
            "not available".into()
        } else {
            format!("actions: {actions}")
        },
        fix: (!seccomp_ok)
            .then(|| "a kernel built with CONFIG_SECCOMP_FILTER (Linux 4.14+)".to_string()),
    });
    features.push(Feature {
        name: "seccomp-user-notification",
        available: notif_ok,
        detail: if notif_ok {
            "available (create guard)".into()
        } else {
            "missing".into()
        },
        fix: (!notif_ok).then(|| "Linux 5.14+ (SECCOMP_ADDFD_FLAG_SEND)".to_string()),
    });

    let mount_api = release_at_least(&release, 5, 12);
    features.push(Feature {
        name: "mount-api",
        available: mount_api,
        detail: format!(
            "open_tree/move_mount/mount_setattr {}",
            if mount_api {
                "available"
            } else {
                "need Linux 5.12+"
            }
        ),
        fix: (!mount_api).then(|| "Linux 5.12 or newer".to_string()),
    });

    // Resource limits: which mechanism applies, and which explicit limits are enforced.
    features.extend(crate::limits::features(&crate::limits::HostView::discover()));

    let overlay =
        read("/proc/filesystems").is_some_and(|s| s.lines().any(|l| l.ends_with("\toverlay")));
    features.push(Feature {
        name: "overlayfs",
        available: overlay,
        detail: if overlay {
            "available".into()
        } else {
            "not loaded".into()
        },
        fix: (!overlay)
            .then(|| "`sudo modprobe overlay` (not needed by the current modes)".to_string()),
    });

    let mut layers = Vec::new();
    if userns.is_ok() && mount_api {
        layers.extend([
            Layer::UserNamespace,
            Layer::MountNamespace,
            Layer::PidNamespace,
            Layer::NetworkNamespace,
            Layer::IpcUtsNamespace,
        ]);
    }
    if abi >= 1 {
        layers.push(Layer::Landlock);
    }
    if seccomp_ok {
        layers.push(Layer::Seccomp);
        layers.push(Layer::NoNewPrivs);
    }
    if notif_ok {
        layers.push(Layer::CreateGuard);
    }
    Capabilities {
        platform: "linux",
        release,
        features,
        layers,
    }
}

pub(crate) fn release_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse::<u32>().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::release_at_least;

    #[test]
    fn release_comparison() {
        assert!(release_at_least("6.18.44-fc-v1252", 5, 12));
        assert!(release_at_least("5.12.0", 5, 12));
        assert!(!release_at_least("5.11.9", 5, 12));
        assert!(!release_at_least("garbage", 5, 12));
    }
}
