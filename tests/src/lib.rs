//! Whole-system tests: the built `backchannel` binary as separate broker and party
//! processes. `tests/*.rs` run them over TLS on loopback (delivery, the party node,
//! hostile load, the broker's store, deployments, the attack matrix);
//! `tests/three_hosts.rs` puts a broker and two parties on three "hosts" (Linux network
//! namespaces joined by veth pairs), with faults injected by a user-space proxy
//! (`fault-proxy`), by taking links down, and by `kill -9`.
//!
//! The namespaces, links and addresses are created by the test and removed when it
//! ends (also when it fails); every address lives only inside them. Without root or
//! without `ip`, [`Hosts::create`] says why and the test skips itself.

#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The broker's address as alpha and bravo see it (inside the namespaces only).
pub const BROKER_ADDR: &str = "10.77.1.1:7878";

/// Three network namespaces: `broker` joined to `alpha` and to `bravo` by veth pairs.
///
/// ```text
/// alpha 10.77.1.2 ── 10.77.1.1 broker 10.77.2.1 ── 10.77.2.2 bravo
/// ```
#[derive(Debug)]
pub struct Hosts {
    /// The namespace names, by role.
    pub broker: String,
    /// alpha's namespace.
    pub alpha: String,
    /// bravo's namespace.
    pub bravo: String,
    /// bravo's end of its link (taken down for a partition).
    bravo_link: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// Creates the namespaces and links; `Err` says why they cannot be made here.
    pub fn create() -> Result<Hosts, String> {
        let id = std::process::id() % 100_000;
        let hosts = Hosts {
            broker: format!("bcb{id}"),
            alpha: format!("bca{id}"),
            bravo: format!("bcv{id}"),
            bravo_link: format!("vv{id}"),
        };
        // Leftovers of a killed run with the same pid would make `add` fail.
        hosts.remove();
        for ns in [&hosts.broker, &hosts.alpha, &hosts.bravo] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let links = [
            (&hosts.alpha, format!("va{id}"), format!("vba{id}"), 1),
            (&hosts.bravo, format!("vv{id}"), format!("vbv{id}"), 2),
        ];
        for (ns, party_end, broker_end, net) in &links {
            ip(&[
                "link",
                "add",
                party_end,
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                broker_end,
                "netns",
                &hosts.broker,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.77.{net}.2/24"),
                "dev",
                party_end,
            ])?;
            ip(&["-n", ns, "link", "set", party_end, "up"])?;
            ip(&[
                "-n",
                &hosts.broker,
                "addr",
                "add",
                &format!("10.77.{net}.1/24"),
                "dev",
                broker_end,
            ])?;
            ip(&["-n", &hosts.broker, "link", "set", broker_end, "up"])?;
            ip(&[
                "-n",
                ns,
                "route",
                "add",
                "default",
                "via",
                &format!("10.77.{net}.1"),
            ])?;
        }
        Ok(hosts)
    }

    /// `PROGRAM ARGS` to run inside namespace `ns`.
    pub fn command(&self, ns: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// Cuts bravo off (its link down) or heals the partition (link up, route back).
    pub fn partition_bravo(&self, cut: bool) -> Result<(), String> {
        let state = if cut { "down" } else { "up" };
        ip(&["-n", &self.bravo, "link", "set", &self.bravo_link, state])?;
        if !cut {
            ip(&[
                "-n",
                &self.bravo,
                "route",
                "replace",
                "default",
                "via",
                "10.77.2.1",
            ])?;
        }
        Ok(())
    }

    fn remove(&self) {
        for ns in [&self.broker, &self.alpha, &self.bravo] {
            // Deleting a namespace deletes its veth ends, and their peers with them.
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The `backchannel` binary beside this package's `fault-proxy` (cargo builds both
/// into one directory), brought up to date first: `cargo test` builds a package's own
/// binaries for its tests, not another package's, so this asks cargo (a no-op when
/// nothing changed).
pub fn backchannel_binary(fault_proxy: &Path) -> Result<PathBuf, String> {
    let dir = fault_proxy
        .parent()
        .ok_or_else(|| "no directory for the binaries".to_owned())?;
    let bin = dir.join("backchannel");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "backchannel-cli",
            "--bin",
            "backchannel",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() || !bin.exists() {
        return Err(format!("could not build {}", bin.display()));
    }
    Ok(bin)
}

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Running(Option<Child>);

impl Running {
    /// Starts `command` with its output captured.
    pub fn spawn(command: &mut Command) -> Result<Running, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(|c| Running(Some(c)))
            .map_err(|e| format!("cannot start {command:?}: {e}"))
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Kills it now (SIGKILL: no chance to flush or close anything) and returns what
    /// it printed.
    pub fn kill(mut self) -> Option<Output> {
        let mut child = self.0.take()?;
        let _ = child.kill();
        child.wait_with_output().ok()
    }

    /// Waits for it to end and returns what it printed.
    pub fn wait(mut self) -> Option<Output> {
        self.0.take()?.wait_with_output().ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`), where
/// every tool a test needs is installed by `.ci/run`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A test cannot run its part that needs `what`: outside CI it says so and the caller
/// skips that part; in CI it fails, because a test that passes as skipped there checks
/// nothing.
pub fn tool_missing(what: &str) {
    assert!(
        !in_ci(),
        "{what} is missing, and CI must have it (.ci/run installs it): this test cannot pass by skipping"
    );
    eprintln!("SKIPPED: {what} is missing here (CI installs it)");
}
