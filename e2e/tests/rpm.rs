//! The RPM packages (`deploy/rpm/build.sh`): they build with rpmbuild, rpm
//! reads back their files, configuration files and scriptlets, they install
//! into a root of their own with rpm's own database (this machine is
//! Debian: rpm may not install into `/`, and the scriptlets, which need a
//! Fedora userland, are left out), the installed binaries run with the
//! installed configuration, an upgrade keeps an edited configuration file,
//! and removal takes away what they added and saves the edited file.
//!
//! Skipped without rpmbuild unless MONITOR_REQUIRE_PACKAGES is set
//! (scripts/test.sh sets it; scripts/services.sh installs rpm).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::run;

fn have_rpmbuild() -> bool {
    let found = Command::new("rpmbuild")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("MONITOR_REQUIRE_PACKAGES").is_none(),
            "the RPM test needs rpmbuild (apt-get install rpm)"
        );
        eprintln!("skipped: the RPM test needs rpmbuild");
    }
    found
}

fn build(version: &str, out: &Path) -> Vec<PathBuf> {
    common::build_packages("rpm/build.sh", ("RPM_COMPRESSION", "none"), version, out)
}

/// `rpm --root ROOT` with `args`, then the packages.
fn rpm(root: &Path, args: &[&str], rpms: &[PathBuf]) -> String {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend(rpms.iter().map(|p| p.to_str().unwrap()));
    run("rpm", &all)
}

#[test]
fn the_rpms_build_install_upgrade_and_erase_in_a_root_of_their_own() {
    if !have_rpmbuild() {
        return;
    }
    let dir = common::dir("rpm", "packages");
    let rpms = build("0.1.0", &dir.0.join("0.1.0"));
    let (server, agent) = (&rpms[0], &rpms[1]);
    let arch = std::env::consts::ARCH;
    assert_eq!(
        server.file_name().unwrap().to_str().unwrap(),
        format!("monitor-server-0.1.0-1.{arch}.rpm")
    );

    // What rpm reads back.
    let files = run("rpm", &["-qpl", server.to_str().unwrap()]);
    for file in [
        "/usr/bin/monitor-server",
        "/usr/lib/systemd/system/monitor-server.service",
        "/usr/lib/sysusers.d/monitor-server.conf",
        "/etc/monitor/server.toml",
        "/usr/share/man/man1/monitor-server.1.gz",
        "/usr/share/bash-completion/completions/monitor-server",
        "/usr/share/zsh/site-functions/_monitor-server",
        "/usr/share/fish/vendor_completions.d/monitor-server.fish",
        "/usr/share/doc/monitor-server/examples/monitor-legacy-names.rules.yml",
    ] {
        assert!(files.lines().any(|l| l == file), "{file} not in\n{files}");
    }
    let config_files = run("rpm", &["-qp", "--configfiles", agent.to_str().unwrap()]);
    assert_eq!(
        config_files
            .lines()
            .filter(|l| l.starts_with('/'))
            .collect::<Vec<_>>(),
        ["/etc/monitor/agent.toml"]
    );
    let scripts = run("rpm", &["-qp", "--scripts", agent.to_str().unwrap()]);
    assert!(
        scripts.contains(r#"echo 'u monitor-agent - "monitor agent" /var/lib/monitor-agent' | systemd-sysusers -"#),
        "{scripts}"
    );
    assert!(
        scripts.contains("usermod -a -G docker monitor-agent"),
        "{scripts}"
    );
    assert!(
        scripts.contains("systemctl --no-reload preset monitor-agent.service"),
        "{scripts}"
    );
    assert!(
        !run("rpm", &["-qp", "--scripts", server.to_str().unwrap()]).contains("docker"),
        "only the agent joins the docker group"
    );

    // Installed into a root of its own.
    let root = dir.0.join("root");
    run("rpm", &["--root", root.to_str().unwrap(), "--initdb"]);
    rpm(&root, &["-i", "--nodeps", "--noscripts"], &rpms);
    let installed = run(
        "rpm",
        &[
            "--root",
            root.to_str().unwrap(),
            "-q",
            "monitor-server",
            "monitor-agent",
        ],
    );
    assert!(
        installed.starts_with(&format!(
            "monitor-server-0.1.0-1.{arch}\nmonitor-agent-0.1.0-1.{arch}\n"
        )),
        "{installed}"
    );
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/monitor-server.service"))
        .unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/monitor-server\n"),
        "{unit}"
    );

    // The installed binaries run with the installed configuration.
    let version = run(
        root.join("usr/bin/monitor-server").to_str().unwrap(),
        &["--version"],
    );
    assert!(version.starts_with("monitor-server 0.1.0"), "{version}");
    let checked = Command::new(root.join("usr/bin/monitor-server"))
        .arg("check-config")
        .env("MONITOR_CONFIG", root.join("etc/monitor/server.toml"))
        .env("MONITOR_DATA_DIR", root.join("var/lib/monitor-server"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let snapshot = Command::new(root.join("usr/bin/monitor-agent"))
        .arg("--once")
        .env("MONITOR_AGENT_CONFIG", root.join("etc/monitor/agent.toml"))
        .output()
        .unwrap();
    assert!(
        snapshot.status.success(),
        "{}",
        String::from_utf8_lossy(&snapshot.stderr)
    );
    let snapshot: serde_json::Value = serde_json::from_slice(&snapshot.stdout).unwrap();
    assert!(
        snapshot["metrics"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );

    // An upgrade keeps the administrator's edit.
    let config = root.join("etc/monitor/agent.toml");
    let edited = format!(
        "{}\n# edited by the administrator\n",
        std::fs::read_to_string(&config).unwrap()
    );
    std::fs::write(&config, &edited).unwrap();
    let newer = build("0.1.1", &dir.0.join("0.1.1"));
    rpm(&root, &["-U", "--nodeps", "--noscripts"], &newer);
    let upgraded = run(
        "rpm",
        &["--root", root.to_str().unwrap(), "-q", "monitor-agent"],
    );
    assert!(
        upgraded.starts_with(&format!("monitor-agent-0.1.1-1.{arch}\n")),
        "{upgraded}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);

    // Erasing takes the files away and saves the edited configuration.
    run(
        "rpm",
        &[
            "--root",
            root.to_str().unwrap(),
            "-e",
            "--nodeps",
            "--noscripts",
            "monitor-server",
            "monitor-agent",
        ],
    );
    for gone in [
        "usr/bin/monitor-server",
        "usr/bin/monitor-agent",
        "usr/lib/systemd/system/monitor-agent.service",
        "etc/monitor/server.toml",
        "etc/monitor/agent.toml",
    ] {
        assert!(!root.join(gone).exists(), "{gone} is left after rpm -e");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("etc/monitor/agent.toml.rpmsave")).unwrap(),
        edited
    );
}
