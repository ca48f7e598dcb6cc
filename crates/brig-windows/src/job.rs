//! The job object: what kills the whole process tree and carries the limits.
//!
//! The command is created suspended, assigned to a new job, then resumed, so no process of
//! the tree ever runs outside it. The job:
//! - kills every process in it when brig's handle closes (`KILL_ON_JOB_CLOSE`): a command
//!   cannot leave a daemon behind, even if brig itself is killed;
//! - forbids breakaway (no `BREAKAWAY_OK`), and crashes end the process instead of opening an
//!   error dialog (`DIE_ON_UNHANDLED_EXCEPTION`);
//! - carries the UI restrictions (no reading or writing the clipboard, no global atoms, no
//!   changing display settings or system parameters, no switching desktops, no logging off,
//!   no using USER handles of processes outside the job);
//! - bounds processes (`ACTIVE_PROCESS`: Windows counts processes, not threads, so this is
//!   looser than Linux's pids limit), committed memory of the whole job (`JOB_MEMORY`: private
//!   commit, not resident memory) and CPU (`CPU_RATE_CONTROL` with a hard cap, in 1/10000 of
//!   the whole machine).
//!
//! Windows has no per-job equivalent of `RLIMIT_FSIZE`, of a sized `/tmp` or of `/dev/shm`:
//! an explicit value for those is refused (brig enforces an explicit limit or refuses), and
//! brig's defaults for them are listed in [`JobPlan::not_enforced`]. The wall-clock timeout is
//! the runner's: at the timeout it sends `CTRL_BREAK_EVENT` to the command's process group,
//! and terminates the job after the grace period.

use std::time::Duration;

use brig_sandbox::Limits;

use crate::plan::PlanError;

/// `JOB_OBJECT_UILIMIT_*` bits.
pub mod ui {
    /// No USER handles of processes outside the job.
    pub const HANDLES: u32 = 0x1;
    /// No reading the clipboard.
    pub const READCLIPBOARD: u32 = 0x2;
    /// No writing the clipboard.
    pub const WRITECLIPBOARD: u32 = 0x4;
    /// No `SystemParametersInfo` changes.
    pub const SYSTEMPARAMETERS: u32 = 0x8;
    /// No `ChangeDisplaySettings`.
    pub const DISPLAYSETTINGS: u32 = 0x10;
    /// No global atoms.
    pub const GLOBALATOMS: u32 = 0x20;
    /// No creating or switching desktops.
    pub const DESKTOP: u32 = 0x40;
    /// No `ExitWindows`.
    pub const EXITWINDOWS: u32 = 0x80;
    /// All of the above.
    pub const ALL: u32 = 0xFF;
}

/// What the job object is set to.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPlan {
    /// `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` (always).
    pub kill_on_close: bool,
    /// `JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION` (always).
    pub die_on_unhandled_exception: bool,
    /// `JOB_OBJECT_LIMIT_BREAKAWAY_OK` (never).
    pub breakaway_ok: bool,
    /// `JOB_OBJECT_UILIMIT_*` ([`ui`]).
    pub ui_limits: u32,
    /// `JOB_OBJECT_LIMIT_ACTIVE_PROCESS`.
    pub active_processes: Option<u32>,
    /// `JOB_OBJECT_LIMIT_JOB_MEMORY`, bytes of committed memory of the whole job.
    pub job_memory_bytes: Option<u64>,
    /// `JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP`: 1..=10000 of the machine's total CPU time.
    pub cpu_rate: Option<u32>,
    /// Wall-clock timeout, kept by the runner.
    pub timeout: Option<Duration>,
    /// Between `CTRL_BREAK_EVENT` and terminating the job.
    pub grace: Duration,
    /// brig's default limits that Windows cannot enforce, for `brig doctor` and the report.
    pub not_enforced: Vec<&'static str>,
}

/// The job settings for `limits` on a machine with `logical_cpus` processors.
pub fn job_plan(limits: &Limits, logical_cpus: u32) -> Result<JobPlan, PlanError> {
    limits.validate().map_err(PlanError::Limits)?;
    let mut not_enforced = Vec::new();
    let mut unsupported = |name: &'static str, explicit: Option<bool>| match explicit {
        Some(true) => Err(PlanError::LimitUnsupported { limit: name }),
        Some(false) => {
            not_enforced.push(name);
            Ok(())
        }
        None => Ok(()),
    };
    unsupported("the file size limit", limits.file_bytes.map(|l| l.explicit))?;
    unsupported(
        "the size of the private temp directory",
        limits.tmp_bytes.map(|l| l.explicit),
    )?;
    unsupported("the size of /dev/shm", limits.shm_bytes.map(|l| l.explicit))?;
    let cpu_rate = match limits.cpus {
        Some(c) => {
            if logical_cpus == 0 {
                return Err(PlanError::LimitUnsupported {
                    limit: "the CPU limit (the number of processors is unknown)",
                });
            }
            let rate = (c.value / f64::from(logical_cpus) * 10_000.0).ceil();
            // At or above the whole machine there is nothing to cap.
            (rate < 10_000.0).then_some(rate.max(1.0) as u32)
        }
        None => None,
    };
    Ok(JobPlan {
        kill_on_close: true,
        die_on_unhandled_exception: true,
        breakaway_ok: false,
        ui_limits: ui::ALL,
        active_processes: limits
            .processes
            .map(|p| u32::try_from(p.value).unwrap_or(u32::MAX)),
        job_memory_bytes: limits.memory_bytes.map(|m| m.value),
        cpu_rate,
        timeout: limits.timeout.map(|t| t.value),
        grace: limits.grace,
        not_enforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brig_sandbox::Limit;

    #[test]
    fn brigs_defaults_become_job_settings_and_list_what_windows_lacks() {
        let j = job_plan(&Limits::defaults(Some(16 << 30)), 8).unwrap();
        assert_eq!(
            j,
            JobPlan {
                kill_on_close: true,
                die_on_unhandled_exception: true,
                breakaway_ok: false,
                ui_limits: ui::ALL,
                active_processes: Some(4096),
                job_memory_bytes: Some(8 << 30),
                cpu_rate: None,
                timeout: None,
                grace: Duration::from_secs(2),
                not_enforced: vec![
                    "the file size limit",
                    "the size of the private temp directory",
                    "the size of /dev/shm"
                ],
            }
        );
    }

    #[test]
    fn explicit_limits_map_to_the_job() {
        let limits = Limits {
            memory_bytes: Some(Limit::explicit(1 << 30)),
            processes: Some(Limit::explicit(64)),
            cpus: Some(Limit::explicit(1.5)),
            timeout: Some(Limit::explicit(Duration::from_secs(30))),
            ..Limits::default()
        };
        let j = job_plan(&limits, 4).unwrap();
        assert_eq!(j.job_memory_bytes, Some(1 << 30));
        assert_eq!(j.active_processes, Some(64));
        assert_eq!(j.cpu_rate, Some(3750));
        assert_eq!(j.timeout, Some(Duration::from_secs(30)));
        assert!(j.not_enforced.is_empty());
        assert!(j.kill_on_close);
    }

    #[test]
    fn the_cpu_rate_is_bounded() {
        let with = |c: f64, n: u32| {
            job_plan(
                &Limits {
                    cpus: Some(Limit::explicit(c)),
                    ..Limits::default()
                },
                n,
            )
            .unwrap()
            .cpu_rate
        };
        assert_eq!(with(0.01, 64), Some(2));
        assert_eq!(with(8.0, 8), None);
        assert_eq!(with(12.0, 8), None);
        assert!(matches!(
            job_plan(
                &Limits {
                    cpus: Some(Limit::explicit(1.0)),
                    ..Limits::default()
                },
                0
            ),
            Err(PlanError::LimitUnsupported { .. })
        ));
    }

    #[test]
    fn explicit_limits_windows_cannot_enforce_are_refused() {
        for limits in [
            Limits {
                file_bytes: Some(Limit::explicit(1 << 20)),
                ..Limits::default()
            },
            Limits {
                tmp_bytes: Some(Limit::explicit(1 << 20)),
                ..Limits::default()
            },
            Limits {
                shm_bytes: Some(Limit::explicit(1 << 20)),
                ..Limits::default()
            },
        ] {
            assert!(matches!(
                job_plan(&limits, 4),
                Err(PlanError::LimitUnsupported { .. })
            ));
        }
        let bad = Limits {
            processes: Some(Limit::explicit(1)),
            ..Limits::default()
        };
        assert!(matches!(job_plan(&bad, 4), Err(PlanError::Limits(_))));
    }
}
