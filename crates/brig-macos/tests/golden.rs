//! Golden tests: the whole Seatbelt profile of a few representative plans, compared with the
//! checked-in `tests/golden/NAME.sb`. `BRIG_UPDATE_GOLDEN=1 cargo test -p brig-macos --test
//! golden` rewrites them; review the diff like code: it is the policy macOS enforces.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use brig_macos::profile::{seatbelt_profile, seatbelt_profile_with_brig_dirs, ProfileError};
use brig_policy::{EnforcementPlan, GitAccess, HostFacts, Mode, NetworkMode, Policy};

const HOME: &str = "/Users/me";

/// The plan brig-policy compiles for the default policy with this workspace.
fn default_plan(workspace: &str) -> EnforcementPlan {
    let host = HostFacts {
        home: HOME.into(),
        workspace: workspace.into(),
        cwd: workspace.into(),
        env: vec![
            (OsString::from("PATH"), OsString::from("/usr/bin:/bin")),
            (OsString::from("HOME"), OsString::from(HOME)),
        ],
        state_dir: format!("{HOME}/.local/state/brig").into(),
        config_dir: format!("{HOME}/.config/brig").into(),
    };
    brig_policy::plan(&Policy::default(), &host).expect("the default policy compiles")
}

fn brig_dirs() -> Vec<PathBuf> {
    vec![
        format!("{HOME}/.local/state/brig").into(),
        format!("{HOME}/.config/brig").into(),
    ]
}

fn check(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.sb"));
    if std::env::var_os("BRIG_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with BRIG_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .map_or(want.lines().count().min(text.lines().count()), |i| i);
        panic!(
            "{} differs from the generated profile from line {} on:\n--- expected\n{}\n--- got\n{}\n\
             (BRIG_UPDATE_GOLDEN=1 regenerates it; review the diff)",
            path.display(),
            line + 1,
            want.lines().skip(line).take(5).collect::<Vec<_>>().join("\n"),
            text.lines().skip(line).take(5).collect::<Vec<_>>().join("\n"),
        );
    }
}

#[test]
fn workspace_write_default() {
    let plan = default_plan("/Users/me/src/proj");
    let p = seatbelt_profile_with_brig_dirs(&plan, &brig_dirs()).unwrap();
    check("workspace-write-default", p.as_str());
}

#[test]
fn read_only() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.mode = Mode::ReadOnly;
    plan.writable_roots.clear();
    check("read-only", seatbelt_profile(&plan).unwrap().as_str());
}

#[test]
fn network_allowlist() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.network = NetworkMode::Allowlist;
    plan.protected_names = vec![".git".into()];
    plan.deny_read = vec!["/Users/me/.ssh".into()];
    check("allowlist", seatbelt_profile(&plan).unwrap().as_str());
}

#[test]
fn network_on_with_local_commits_and_two_roots() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.network = NetworkMode::On;
    plan.git = GitAccess::LocalCommit;
    plan.writable_roots.push("/Users/me/.cache/pip".into());
    plan.protected_names = vec![".git".into(), ".envrc".into()];
    plan.deny_read = vec!["/Users/me/.aws".into(), "/var/db/secret".into()];
    check("network-on", seatbelt_profile(&plan).unwrap().as_str());
}

#[test]
fn workspace_path_with_quotes_spaces_and_metacharacters() {
    let ws = r#"/Users/me/My "Proj" (v1.0) [x]+$^|{y}\z"#;
    let mut plan = default_plan(ws);
    plan.protected_names = vec![".git".into()];
    plan.deny_read = vec![format!("{ws}/secret.env").into()];
    check("odd-path", seatbelt_profile(&plan).unwrap().as_str());
}

#[test]
fn custom_protected_names_with_prefixes() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.protected_names = vec![
        ".git".into(),
        ".brig*".into(),
        "lefthook*".into(),
        "Makefile".into(),
        "c++.cfg".into(),
    ];
    plan.deny_read.clear();
    check("custom-names", seatbelt_profile(&plan).unwrap().as_str());
}

#[test]
fn danger_full_access_has_no_profile() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.mode = Mode::DangerFullAccess;
    assert_eq!(seatbelt_profile(&plan), Err(ProfileError::Unconfined));
}

#[test]
fn control_characters_are_refused() {
    let mut plan = default_plan("/Users/me/src/proj");
    plan.writable_roots = vec!["/Users/me/evil\n(allow default)".into()];
    let e = seatbelt_profile(&plan).unwrap_err();
    assert!(
        matches!(
            e,
            ProfileError::ControlCharacter {
                what: "writable root",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("control character"), "{e}");
    let mut plan = default_plan("/Users/me/src/proj");
    plan.deny_read = vec!["/Users/me/\u{7}x".into()];
    assert!(matches!(
        seatbelt_profile(&plan),
        Err(ProfileError::ControlCharacter {
            what: "secret path",
            ..
        })
    ));
}

#[test]
fn brig_dirs_inside_a_root_are_refused() {
    let plan = default_plan("/Users/me/src/proj");
    for dir in ["/Users/me/src/proj/.state", "/Users/me/src"] {
        let e = seatbelt_profile_with_brig_dirs(&plan, &[dir.into()]).unwrap_err();
        assert!(
            matches!(e, ProfileError::BrigDirInRoot { .. }),
            "{dir}: {e}"
        );
    }
}

#[test]
fn every_quote_in_the_profile_is_balanced() {
    // A cheap structural check of the odd path's profile: outside strings, parentheses
    // balance, and every string ends on the line it starts on.
    let ws = r#"/Users/me/My "Proj" (v1.0) [x]+$^|{y}\z"#;
    let plan = default_plan(ws);
    let text = seatbelt_profile(&plan).unwrap().as_str().to_string();
    for line in text.lines() {
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        for c in line.chars() {
            match (in_str, esc, c) {
                (true, true, _) => esc = false,
                (true, false, '\\') => esc = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, ';') => break,
                (false, _, '(') => depth += 1,
                (false, _, ')') => depth -= 1,
                _ => {}
            }
        }
        assert!(!in_str && depth == 0, "unbalanced: {line}");
    }
}
