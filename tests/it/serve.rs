//! `fedstore serve` as a child process on a free loopback port, for the tests that need the
//! real binary (its flags, signals and restarts). The child is created inside the handle, so a
//! test that panics while waiting for readiness still kills it on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `fedstore serve`, killed on drop.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: PathBuf,
}

impl Serve {
    /// Starts `fedstore serve --web.listen-address=<free port> --storage.tsdb.path=<data>
    /// <args>` with stderr in a file beside `data`, and waits (60 s at most) until `/-/ready`
    /// answers 200.
    pub fn start<S: AsRef<std::ffi::OsStr>>(data: &Path, args: &[S]) -> Serve {
        let port = crate::support::free_port_in(19400);
        let log = data.with_extension(format!("log.{port}"));
        let child = Command::new(env!("CARGO_BIN_EXE_fedstore"))
            .arg("serve")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut srv = Serve {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = srv.child.try_wait().unwrap() {
                panic!("fedstore exited with {status}: {}", srv.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && crate::support::is_ready(&srv.url)
            {
                return srv;
            }
            assert!(Instant::now() < deadline, "not ready: {}", srv.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (20 s, then SIGKILL).
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
