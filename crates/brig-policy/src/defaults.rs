//! brig's built-in defaults, as reviewable data with a reason for every entry.
//!
//! Everything a user can widen or narrow starts here: the default mode, the names that stay
//! read-only inside writable roots, the secret paths hidden from every mode except
//! `danger-full-access`, and the environment allowlist with its secret veto. Configuration files
//! add to or subtract from these lists ([`crate::config`]); nothing else hard-codes security
//! decisions.
//!
//! Rules for editing: keep one entry per line with a comment saying *why*, prefer listing a
//! directory over its files, and remember that a protected name applies at every depth inside
//! every writable root, so a name that ordinary builds write (`target`, `node_modules`) must never
//! appear here.

use crate::plan::{ApprovalPolicy, AuditFiles, GitAccess, LimitSettings, Mode, NetworkMode};

/// The mode when no configuration and no flag chooses one.
pub const MODE: Mode = Mode::WorkspaceWrite;

/// Network access when no configuration and no flag chooses one.
pub const NETWORK: NetworkMode = NetworkMode::Off;

/// Git access when no configuration enables local commits.
pub const GIT: GitAccess = GitAccess::ReadOnly;

/// The most an untrusted project file may set each limit to when no user-level setting chose
/// it (brig's runtime defaults, or a conservative bound where the default depends on the
/// machine): memory 4 GiB, processes 4096, /tmp 1 GiB, /dev/shm 256 MiB, files 8 GiB. A
/// timeout or CPU cap from a project is always a tightening (by default there is none).
pub const UNTRUSTED_LIMIT_BOUNDS: LimitSettings = LimitSettings {
    memory: Some(4 << 30),
    processes: Some(4096),
    cpu_millis: None,
    timeout: None,
    tmp_size: Some(1 << 30),
    shm_size: Some(256 << 20),
    file_size: Some(8 << 30),
    output: None,
    from_untrusted_project: crate::plan::LimitSources {
        memory: false,
        processes: false,
        cpus: false,
        timeout: false,
        tmp_size: false,
        shm_size: false,
        file_size: false,
    },
};

/// Default approval policy: run sandboxed, ask only for what needs a human.
pub const APPROVAL_POLICY: ApprovalPolicy = ApprovalPolicy::OnRequest;

/// Default time a request waits for a human before it is denied, in seconds.
pub const APPROVAL_TIMEOUT_SECS: u64 = 300;

/// Default file auditing: every change, no reads (reads cost a supervisor round trip each).
pub const AUDIT_FILES: AuditFiles = AuditFiles::Changes;

/// Protected names that no configuration can remove (`protect.unprotect` rejects them).
pub const NEVER_UNPROTECTED: &[&str] = &[
    ".git",   // hooks and config run code in the user's own git, outside the sandbox
    ".brig*", // brig's own project config: writing it would let the agent rewrite its policy
];

/// File names that stay read-only (and cannot be created, replaced or renamed) at any depth inside
/// the writable roots: each one makes a host-side program run code or trust something later,
/// outside the sandbox. A trailing `*` makes an entry a prefix.
pub const PROTECTED_NAMES: &[&str] = &[
    // --- version control ---
    ".git", // hooks, config (core.fsmonitor, core.hooksPath, filters) run code in host git
    ".gitmodules", // submodule URLs and paths are fetched and checked out by host git
    ".githooks", // the usual `core.hooksPath` target: its scripts are the git hooks
    ".husky", // husky sets core.hooksPath to .husky/_: its files run on every host commit
    ".pre-commit-config.yaml", // `pre-commit` hooks run whatever this file names on every commit
    "lefthook*", // lefthook.yml / lefthook-local.yml: commands run by lefthook's git hooks
    ".lefthook*", // the dot-file spellings of lefthook's config
    // --- shell environment loaders that run on `cd` ---
    ".envrc",    // direnv evaluates it as shell code when the user enters the directory
    ".mise*",    // .mise.toml / .mise.local.toml: mise runs its [hooks] and [env] on `cd`
    "mise.toml", // the same file without the dot
    "mise.local.toml", // mise's untracked local override
    // --- editors and IDEs ---
    ".vscode", // tasks.json (runOn: folderOpen), settings that name binaries to execute
    ".idea",   // JetBrains run configurations and startup tasks
    ".zed",    // Zed tasks and language-server binary settings
    ".devcontainer", // devcontainer.json `initializeCommand` runs on the host
    // --- coding agents (their config defines hooks, MCP servers and allowed commands) ---
    ".mcp.json", // project MCP servers: each entry is a command the next agent starts
    ".claude",   // Claude Code settings.json hooks and permissions
    ".codex",    // Codex config and its sandbox/approval settings
    ".cursor",   // Cursor rules and mcp.json
    ".gemini",   // Gemini CLI settings.json (tool allowlists, MCP servers)
    ".continue", // Continue config.yaml defines MCP servers to run
    ".amazonq",  // Amazon Q Developer mcp.json
    ".kiro",     // Kiro agent hooks run shell commands on file events
    ".roo",      // Roo Code mcp.json
    ".windsurf", // Windsurf workflows and rules
    ".aider.conf.yml", // aider's lint-cmd / test-cmd run after every edit
    // --- brig itself ---
    ".brig*", // .brig.toml: the project policy the agent must not rewrite
];

/// Environment variables that move a whole XDG base directory, and the prefix of
/// [`SECRET_PATHS`] entries they move: `XDG_CONFIG_HOME=/x` puts `.config/gh` at `/x/gh`.
pub const XDG_RELOCATIONS: &[(&str, &str)] = &[
    ("XDG_CONFIG_HOME", ".config/"),
    ("XDG_DATA_HOME", ".local/share/"),
    ("XDG_CACHE_HOME", ".cache/"),
    ("XDG_STATE_HOME", ".local/state/"),
];

/// Environment variables that name where a tool keeps its credentials; their (absolute) values
/// are hidden too.
pub const SECRET_LOCATION_VARS: &[&str] = &[
    "GNUPGHOME",                      // gpg keys and agent sockets
    "AWS_SHARED_CREDENTIALS_FILE",    // AWS keys
    "AWS_CONFIG_FILE",                // AWS profiles (may hold credential_process, SSO caches)
    "KUBECONFIG",                     // cluster credentials (a ':' list)
    "DOCKER_CONFIG",                  // registry auth (a directory)
    "GH_CONFIG_DIR",                  // GitHub CLI token
    "CLOUDSDK_CONFIG",                // gcloud credentials
    "AZURE_CONFIG_DIR",               // Azure CLI tokens
    "NPM_CONFIG_USERCONFIG",          // npm auth tokens
    "NETRC",                          // machine passwords
    "PASSWORD_STORE_DIR",             // pass
    "GOOGLE_APPLICATION_CREDENTIALS", // service-account key file
    "VAULT_CONFIG_PATH",              // Vault token helper config
];

/// Secret paths, relative to the home directory, that are unreadable in every mode except
/// `danger-full-access`. Paths that do not exist are still denied (a tool may create them later).
pub const SECRET_PATHS: &[&str] = &[
    // --- keys and cloud / forge credentials ---
    ".ssh",                               // private keys, agent configs
    ".gnupg",                             // private keys and the agent socket
    ".aws",                               // credentials and SSO caches
    ".azure",                             // az CLI tokens
    ".config/gcloud",                     // gcloud credentials and access tokens
    ".oci",                               // Oracle Cloud API keys
    ".kube",                              // kubeconfig with cluster tokens and client keys
    ".docker/config.json",                // registry auth
    ".config/containers/auth.json",       // podman / buildah registry auth
    ".config/gh",                         // GitHub CLI token
    ".config/hub",                        // hub's GitHub token
    ".git-credentials",                   // git's plain-text credential store
    ".netrc",                             // passwords for curl, git, ftp
    ".config/github-copilot",             // Copilot OAuth tokens
    ".vault-token",                       // HashiCorp Vault token
    ".terraform.d/credentials.tfrc.json", // Terraform Cloud tokens
    ".terraformrc",                       // may carry `credentials` blocks
    ".s3cfg",                             // s3cmd keys
    ".boto",                              // gsutil / boto keys
    ".config/rclone",                     // rclone remotes with secrets
    ".config/op",                         // 1Password CLI sessions
    ".config/sops",                       // sops age keys
    ".huggingface/token",                 // Hugging Face token (old location)
    ".cache/huggingface/token",           // Hugging Face token
    // --- package registries ---
    ".npmrc",                    // npm auth tokens
    ".pypirc",                   // PyPI upload credentials
    ".cargo/credentials.toml",   // crates.io token
    ".cargo/credentials",        // crates.io token (old name)
    ".gem/credentials",          // RubyGems API key
    ".m2/settings.xml",          // Maven repository passwords
    ".gradle/gradle.properties", // Gradle publishing credentials
    // --- databases ---
    ".pgpass", // PostgreSQL passwords
    ".my.cnf", // MySQL passwords
    // --- other agents' auth ---
    ".codex/auth.json",          // Codex API key / ChatGPT tokens
    ".claude/.credentials.json", // Claude Code OAuth tokens
    ".claude.json",              // Claude Code account state
    ".gemini/oauth_creds.json",  // Gemini CLI OAuth tokens
    // --- keyrings and password stores ---
    ".local/share/keyrings", // GNOME keyring files
    ".password-store",       // pass(1) store
    // --- browser profiles (cookies, saved passwords, session tokens) ---
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".config/microsoft-edge",
    // --- macOS equivalents (harmless where they do not exist) ---
    "Library/Keychains",                         // login keychain
    "Library/Cookies",                           // Safari cookies
    "Library/Application Support/Google/Chrome", // Chrome profiles
    "Library/Application Support/Firefox",       // Firefox profiles
    // --- shell and REPL histories (pasted tokens, typed passwords) ---
    ".bash_history",
    ".zsh_history",
    ".local/share/fish/fish_history",
    ".python_history",
    ".node_repl_history",
    ".psql_history",
    ".mysql_history",
    ".sqlite_history",
    ".lesshst",
];

/// Environment variables passed into the sandbox (exact names, or a prefix with a trailing `*`),
/// unless the secret veto ([`SECRET_NAME_WORDS`], [`SECRET_NAMES`]) removes them. Everything
/// else is removed. `TMPDIR` is absent on purpose: the backend sets it to the private temp dir.
pub const ENV_ALLOW: &[&str] = &[
    // --- identity and shell basics ---
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "SHLVL",
    "HOSTNAME",
    // --- terminal and locale ---
    "TERM",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "COLORTERM",
    "COLUMNS",
    "LINES",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "LS_COLORS",
    "LESS",
    "MANPATH",
    // --- editors and pagers ---
    "EDITOR",
    "VISUAL",
    "PAGER",
    // --- XDG base directories (paths only; XDG_RUNTIME_DIR is vetoed) ---
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    // --- CI / automation ---
    "CI",
    "DEBIAN_FRONTEND",
    // --- TLS trust stores (paths to CA bundles) ---
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    // --- Rust ---
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_TERM_COLOR",
    "CARGO_INCREMENTAL",
    "CARGO_BUILD_JOBS",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUST_BACKTRACE",
    "RUST_LOG",
    // --- Go ---
    "GOPATH",
    "GOROOT",
    "GOFLAGS",
    "GOCACHE",
    "GOMODCACHE",
    "GOPRIVATE",
    "GO111MODULE",
    "CGO_ENABLED",
    // --- JVM ---
    "JAVA_HOME",
    "GRADLE_USER_HOME",
    // --- Python ---
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    // --- JavaScript ---
    "NODE_PATH",
    "NODE_ENV",
    "NVM_DIR",
    "NVM_BIN",
    "PNPM_HOME",
    "BUN_INSTALL",
    "DENO_DIR",
    "VOLTA_HOME",
    // --- Ruby, .NET, Android, Apple toolchains ---
    "GEM_HOME",
    "GEM_PATH",
    "DOTNET_ROOT",
    "ANDROID_HOME",
    "ANDROID_SDK_ROOT",
    "SDKROOT",
    "DEVELOPER_DIR",
    // --- C / C++ builds ---
    "CC",
    "CXX",
    "AR",
    "LD",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "PKG_CONFIG_PATH",
    "MAKEFLAGS",
    "CMAKE_GENERATOR",
    // --- Windows essentials ---
    "SYSTEMROOT",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "PROGRAMDATA",
    "PROCESSOR_ARCHITECTURE",
    "NUMBER_OF_PROCESSORS",
];

/// Words that veto a variable, even an allowlisted one, when they appear anywhere in its name
/// (ASCII case-insensitive).
pub const SECRET_NAME_WORDS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "SESSION",
    "COOKIE",
    "PRIVATE",
];

/// Variables (exact names, or a prefix with a trailing `*`) that are vetoed even when
/// allowlisted: credentials, or handles on host services that would let a command act as the user.
pub const SECRET_NAMES: &[&str] = &[
    "AWS_*",                          // AWS keys, profiles, session tokens
    "AZURE_*",                        // Azure service principals
    "ARM_*",                          // Azure credentials for Terraform
    "GOOGLE_APPLICATION_CREDENTIALS", // path to a GCP service-account key
    "GCP_*",                          // GCP credentials and projects
    "CLOUDSDK_*",                     // gcloud overrides (auth, accounts)
    "GH_*",                           // GitHub CLI tokens and hosts
    "GITHUB_*",                       // GitHub tokens (Actions, apps)
    "GITLAB_*",                       // GitLab tokens
    "NPM_CONFIG__AUTH*",              // npm auth tokens via the environment
    "VAULT_*",                        // Vault address and token
    "DATABASE_URL",                   // connection strings carry passwords
    "SSH_AUTH_SOCK",                  // the ssh-agent: sign as the user
    "SSH_AGENT_PID",                  // ssh-agent handle
    "GPG_AGENT_INFO",                 // gpg-agent socket
    "DBUS_SESSION_BUS_ADDRESS",       // the user's D-Bus: secret service, systemd --user
    "DISPLAY",                        // X11: keystroke injection, screen capture
    "WAYLAND_DISPLAY",                // the Wayland compositor
    "XAUTHORITY",                     // X11 cookie
    "XDG_RUNTIME_DIR",                // the user's sockets (D-Bus, pipewire, podman, gpg)
    "KUBECONFIG",                     // cluster credentials
    "DOCKER_HOST",                    // the Docker daemon is root on the host
    "DOCKER_CONFIG",                  // registry credentials
    "CONTAINER_HOST",                 // podman remote socket
    "TMUX",                           // the tmux server socket: type into other panes
    "STY",                            // the GNU screen session
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::name_matches;

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_have_no_duplicates() {
        for list in [
            PROTECTED_NAMES,
            SECRET_PATHS,
            ENV_ALLOW,
            SECRET_NAME_WORDS,
            SECRET_NAMES,
        ] {
            let mut seen: Vec<String> = list.iter().map(|s| s.to_ascii_lowercase()).collect();
            seen.sort();
            let before = seen.len();
            seen.dedup();
            assert_eq!(seen.len(), before, "duplicate in {list:?}");
        }
    }

    #[test]
    fn never_unprotected_names_are_protected_by_default() {
        for n in NEVER_UNPROTECTED {
            assert!(PROTECTED_NAMES.contains(n), "{n}");
        }
    }

    #[test]
    fn protected_names_cover_the_auto_run_files() {
        let pats = owned(PROTECTED_NAMES);
        for n in [
            ".git",
            ".GIT",
            ".vscode",
            ".VSCode",
            ".brig.toml",
            ".mcp.json",
            ".husky",
            "lefthook.yml",
            ".mise.toml",
        ] {
            assert!(name_matches(&pats, n), "{n} should be protected");
        }
        // Names that builds and agents write all the time must stay writable.
        for n in [
            "src",
            "target",
            "node_modules",
            ".gitignore",
            ".github",
            "README.md",
            ".env",
            "Cargo.toml",
        ] {
            assert!(!name_matches(&pats, n), "{n} should not be protected");
        }
    }

    #[test]
    fn secret_paths_are_relative_and_clean() {
        for p in SECRET_PATHS {
            assert!(
                !p.starts_with('/') && !p.starts_with('~') && !p.ends_with('/'),
                "{p}"
            );
            assert!(
                !p.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
                "{p}"
            );
        }
    }

    #[test]
    fn the_allowlist_never_contains_tmpdir() {
        assert!(!name_matches(&owned(ENV_ALLOW), "TMPDIR"));
    }
}
