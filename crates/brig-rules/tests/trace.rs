//! The bench trace (`bench/approvals/trace.txt`) under the shipped defaults: no destructive
//! command may run without dual approval, under any approval policy or mode.

use brig_rules::{replay, ApprovalPolicy, Mode, Rules};

fn trace() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/approvals/trace.txt"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn no_destructive_command_runs_without_dual_approval() {
    let rules = Rules::defaults().unwrap();
    let text = trace();
    for mode in [Mode::ReadOnly, Mode::WorkspaceWrite, Mode::DangerFullAccess] {
        let r = replay(&rules, &text, mode);
        assert!(
            r.commands.len() >= 300,
            "the trace has {} commands",
            r.commands.len()
        );
        assert!(
            r.labelled_destructive >= 25,
            "the trace labels {} commands destructive",
            r.labelled_destructive
        );
        assert_eq!(r.unguarded, Vec::<String>::new(), "{mode:?}");
        // The rules and the labels agree: no over-asking either.
        assert_eq!(r.unlabelled_destructive, Vec::<String>::new(), "{mode:?}");
        assert_eq!(r.destructive, r.labelled_destructive);
        let never = r
            .policies
            .iter()
            .find(|p| p.policy == ApprovalPolicy::Never)
            .unwrap();
        assert_eq!(never.prompts, 0);
        assert_eq!(never.refused, r.labelled_destructive);
        // Under on-request only destructive commands prompt.
        let on_request = r
            .policies
            .iter()
            .find(|p| p.policy == ApprovalPolicy::OnRequest)
            .unwrap();
        assert_eq!(on_request.prompts, on_request.dual_prompts);
    }
}
