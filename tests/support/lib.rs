//! Shared start-up for the end-to-end tests: where the built binary and the
//! plugin components are, and how to run the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `tributary` binary built next to this test (`just test` builds it first).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRIBUTARY_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test> → target/<profile>/tributary
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("tributary");
    assert!(
        path.exists(),
        "{} does not exist: build it first (`just test` does)",
        path.display()
    );
    path
}

/// The default plugins (`just setup` builds them).
pub fn plugins_dir() -> PathBuf {
    existing_dir(workspace_root().join("plugins/dist"), "just setup")
}

/// The test-only plugins (`just test-plugins` builds them).
pub fn test_plugins_dir() -> PathBuf {
    existing_dir(workspace_root().join("plugins/dist-test"), "just test-plugins")
}

fn existing_dir(path: PathBuf, recipe: &str) -> PathBuf {
    assert!(
        path.is_dir(),
        "{} is missing: run `{recipe}` first",
        path.display()
    );
    path
}

/// A `tributary` command with a private data folder and the default plugins.
pub fn tributary(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env("TRIBUTARY_DATA_DIR", data_dir)
        .env("TRIBUTARY_PLUGINS_DIR", plugins_dir())
        .env_remove("TRIBUTARY_ALLOW_LOCAL_ROOTS")
        .env("RUST_LOG", "info");
    cmd
}

/// Runs a command and returns its output, failing the test with both streams
/// if it did not succeed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("run tributary");
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
