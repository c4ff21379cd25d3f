//! Test support: a fresh SoftHSM2 token for each test.
//!
//! cargo-nextest runs one test per process. The first [`TestToken`] of a process gives the
//! process its own SoftHSM configuration and token directory (so parallel tests never see
//! each other's half-made tokens) and points `SOFTHSM2_CONF` at it. SoftHSM reads that
//! variable, and the token list, once: when the PKCS#11 library is first loaded. So create
//! the `TestToken` before the code under test opens the library.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian's softhsm2 package installs the module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token that exists for as long as this value lives.
pub struct TestToken {
    pub label: String,
    pub user_pin: String,
    pub so_pin: String,
    pub module: PathBuf,
    pub conf: PathBuf,
}

/// This process's SoftHSM configuration, created on first use.
fn process_conf() -> PathBuf {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    let conf = CONF.get_or_init(|| {
        let conf = std::env::temp_dir().join(format!("coffer-softhsm-{}", std::process::id())).join("softhsm2.conf");
        // SAFETY: this runs at the start of a test, before the test has started threads or
        // loaded the PKCS#11 library; no other thread of this process reads the environment.
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        conf
    });
    let dir = conf.parent().expect("the configuration has a directory");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("cannot create the SoftHSM token directory");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n",
        tokens.display()
    );
    std::fs::write(conf, text).expect("cannot write the SoftHSM configuration");
    conf.clone()
}

fn require_softhsm() {
    let installed = Path::new(MODULE).exists()
        && Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "SoftHSM2 is missing: run scripts/test.sh (it installs it) or `apt-get install -y softhsm2 opensc`"
    );
}

impl TestToken {
    /// Initialises a new token with a unique label and fixed test PINs.
    pub fn new() -> Self {
        require_softhsm();
        let conf = process_conf();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let label = format!("t{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let token = Self {
            label,
            user_pin: "test-user-pin".to_owned(),
            so_pin: "test-so-pin".to_owned(),
            module: PathBuf::from(MODULE),
            conf,
        };
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &token.conf)
            .args(["--init-token", "--free", "--label", &token.label, "--so-pin", &token.so_pin, "--pin", &token.user_pin])
            .output()
            .expect("softhsm2-util runs");
        assert!(output.status.success(), "softhsm2-util --init-token failed: {}", String::from_utf8_lossy(&output.stderr));
        token
    }
}

impl Default for TestToken {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestToken {
    fn drop(&mut self) {
        let _ = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--delete-token", "--token", &self.label])
            .output();
        // The last token of the process takes the process's directory with it.
        if let Some(dir) = self.conf.parent() {
            let tokens_left = std::fs::read_dir(dir.join("tokens")).map(|d| d.count()).unwrap_or(0);
            if tokens_left == 0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
