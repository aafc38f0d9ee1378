// SPDX-License-Identifier: GPL-2.0
//! A /mars tree in a temporary directory, a fake /proc/sys/mars with a fixed Lamport clock,
//! and helpers to run marsadm against them and to compare the tree before and after.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fake `lamport_now`: years ahead of the real time, so a stamp taken from the real
/// clock would be caught, and every file the test makes counts as old.
pub const LAMPORT: (i64, u32) = (2_000_000_000, 123_456_789);
pub const LAMPORT_TEXT: &str = "2000000000.123456789";
pub const HOST: &str = "alpha";
/// Size of the image file standing in for a disk.
pub const DISK_SIZE: u64 = 1 << 20;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A stamp `(sec, nsec)`.
pub type Stamp = (i64, u32);

pub fn add_ns(s: Stamp, n: u32) -> Stamp {
    let total = s.1 + n;
    (
        s.0 + i64::from(total / 1_000_000_000),
        total % 1_000_000_000,
    )
}

pub fn stamp_text(s: Stamp) -> String {
    format!("{}.{:09}", s.0, s.1)
}

/// One entry of the tree, as compared byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snap {
    pub kind: char,
    pub mode: u32,
    pub value: Vec<u8>,
    pub mtime: Stamp,
}

pub struct Fixture {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub proc_dir: PathBuf,
    pub disk: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn refused(&self, pattern: &str) -> &Run {
        assert_eq!(
            self.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(pattern),
            "stderr lacks {pattern:?}:\n{}",
            self.stderr
        );
        self
    }
}

impl Fixture {
    /// An empty /mars, the module "loaded" with the fake clock, and a 1 MiB disk image.
    pub fn new(tag: &str) -> Fixture {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("marsadm-tree-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("mars");
        let proc_dir = dir.join("proc");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::create_dir_all(&proc_dir).unwrap();
        let fixture = Fixture {
            disk: dir.join("disk.img"),
            dir,
            root,
            proc_dir,
        };
        fixture.set_lamport(LAMPORT);
        std::fs::write(fixture.proc_dir.join("trigger"), "").unwrap();
        std::fs::write(&fixture.disk, vec![0u8; DISK_SIZE as usize]).unwrap();
        fixture
    }

    /// As [`Fixture::new`] with `create-cluster` and `create-resource r0` done.
    pub fn with_resource(tag: &str) -> Fixture {
        let f = Fixture::new(tag);
        f.run(&["create-cluster", "--ip=10.0.0.1"]).ok();
        f.run(&["create-resource", "r0", f.disk_arg()]).ok();
        f
    }

    /// The module is not loaded: no /proc/sys/mars.
    pub fn unload(&self) {
        std::fs::remove_dir_all(&self.proc_dir).unwrap();
    }

    pub fn set_lamport(&self, s: Stamp) {
        let text = format!(
            "CURRENT_TIME=1700000000.000000000\nlamport_now={}\nCALLS=1\n",
            stamp_text(s)
        );
        std::fs::write(self.proc_dir.join("lamport_clock"), text).unwrap();
    }

    pub fn disk_arg(&self) -> &str {
        self.disk.to_str().unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_as(HOST, args)
    }

    /// marsadm as `host` on this tree, not yet run.
    pub fn command(&self, host: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_marsadm"));
        command
            .args(args)
            .env("MARS_ROOT", &self.root)
            .env("MARS_PROC", &self.proc_dir)
            .env("MARS_HOST", host);
        command
    }

    /// Runs marsadm as another host on the same tree (a tree after the merge).
    pub fn run_as(&self, host: &str, args: &[&str]) -> Run {
        Run::of(&mut self.command(host, args))
    }
}

impl Run {
    /// Runs `command` to its end.
    pub fn of(command: &mut Command) -> Run {
        let out = command.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Fixture {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The value and stamp of the link at `rel`.
    pub fn link(&self, rel: &str) -> (String, Stamp) {
        let path = self.path(rel);
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(meta.file_type().is_symlink(), "{rel} is not a symlink");
        let value = std::fs::read_link(&path).unwrap();
        (
            String::from_utf8_lossy(value.as_os_str().as_bytes()).into_owned(),
            (meta.mtime(), meta.mtime_nsec() as u32),
        )
    }

    pub fn value(&self, rel: &str) -> String {
        self.link(rel).0
    }

    /// Writes a link as the kernel or a peer would (an indicator, an old value).
    pub fn put_link(&self, rel: &str, value: &str, stamp: Stamp) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(value, &path).unwrap();
        let status = Command::new("touch")
            .args(["-h", "-d", &format!("@{}", stamp_text(stamp))])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn trigger(&self) -> String {
        std::fs::read_to_string(self.proc_dir.join("trigger")).unwrap()
    }

    pub fn clear_trigger(&self) {
        std::fs::write(self.proc_dir.join("trigger"), "").unwrap();
    }

    /// Every entry below the root, byte for byte (kind, mode, link value or file content,
    /// mtime with nanoseconds).
    pub fn snapshot(&self) -> BTreeMap<String, Snap> {
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Snap>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let kind = meta.file_type();
        let (k, value) = if kind.is_symlink() {
            (
                'l',
                std::fs::read_link(&path)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if kind.is_dir() {
            walk(root, &path, out);
            ('d', Vec::new())
        } else {
            ('f', std::fs::read(&path).unwrap())
        };
        out.insert(
            rel,
            Snap {
                kind: k,
                mode: meta.mode(),
                value,
                mtime: (meta.mtime(), meta.mtime_nsec() as u32),
            },
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The links of `snapshot` with their values, in a readable form.
pub fn links(snapshot: &BTreeMap<String, Snap>) -> BTreeMap<String, String> {
    snapshot
        .iter()
        .filter(|(_, s)| s.kind == 'l')
        .map(|(k, s)| (k.clone(), String::from_utf8_lossy(&s.value).into_owned()))
        .collect()
}

/// Asserts that the links `rels` carry stamps from `start` on, strictly increasing.
pub fn assert_stamped_in_order(f: &Fixture, start: Stamp, rels: &[&str]) {
    let mut prev: Option<Stamp> = None;
    for rel in rels {
        let (_, stamp) = f.link(rel);
        assert!(
            stamp >= start,
            "{rel}: stamp {} is before lamport_now {}",
            stamp_text(stamp),
            stamp_text(start)
        );
        if let Some(p) = prev {
            assert!(
                stamp > p,
                "{rel}: stamp {} is not after {}",
                stamp_text(stamp),
                stamp_text(p)
            );
        }
        prev = Some(stamp);
    }
}

/// A loop device over a file of `size` bytes, detached on drop; `None` where loop devices
/// cannot be used (not root, no loop driver).
pub struct LoopDevice {
    pub path: String,
    _file: PathBuf,
}

impl LoopDevice {
    pub fn new(f: &Fixture, size: u64) -> Option<LoopDevice> {
        let file = f.dir.join(format!("loop-{size}.img"));
        std::fs::write(&file, vec![0u8; size as usize]).ok()?;
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipping: no loop device ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some(LoopDevice { path, _file: file })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// The secret of the test cluster, as the file holds it.
pub const SECRET_HEX: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// Writes `hex` into a file in the fixture's directory; returns its path.
pub fn secret_file(f: &Fixture, name: &str, hex: &str) -> String {
    let path = f.root.parent().unwrap().join(name);
    std::fs::write(&path, format!("{hex}\n")).unwrap();
    path.to_str().unwrap().to_string()
}

/// One frame from `s` (header and payload), or `None` when the stream ends.
pub fn read_frame(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; mars_core::wire::HEADER_LEN];
    s.read_exact(&mut buf).ok()?;
    let header = mars_core::wire::Header::decode(&buf).unwrap();
    let mut rest = vec![0u8; header.payload_len as usize];
    s.read_exact(&mut rest).ok()?;
    buf.extend_from_slice(&rest);
    Some(buf)
}

/// Sends `m` on `s` as one frame.
pub fn send_frame(s: &mut std::net::TcpStream, m: &mars_core::wire::Message<'_>) {
    use std::io::Write;
    let mut buf = [0u8; 1024];
    let n = mars_core::wire::encode_frame(&mut buf, mars_core::lamport::Stamp::new(5, 0), 0, m)
        .unwrap();
    s.write_all(&buf[..n]).unwrap();
}

/// Answers the handshake on `s` as the kernel does, holding the secret `hex`, as host `name`
/// of the cluster `uuid`: `Welcome` when the client's proof verifies (returns `true`),
/// `Refuse` otherwise (`false`).
pub fn answer_handshake(s: &mut std::net::TcpStream, hex: &str, name: &str, uuid: &str) -> bool {
    use mars_core::auth::{SavedHello, Secret, Transcript};
    use mars_core::wire::*;
    let secret = Secret::parse(format!("{hex}\n").as_bytes()).unwrap();
    let sha = mars_host::HostSha256;
    let first = read_frame(s).unwrap();
    let Message::Hello(hello) = decode_frame(&first).unwrap().message else {
        panic!("no hello")
    };
    let saved = SavedHello::new(&hello).unwrap();
    let server_nonce = [0x5a; 32];
    send_frame(s, &Message::Challenge(Challenge { server_nonce }));
    let second = read_frame(s).unwrap();
    let Message::Auth(auth) = decode_frame(&second).unwrap().message else {
        panic!("no auth")
    };
    let hello = saved.hello().unwrap();
    let t = Transcript::new(&hello, &server_nonce);
    if t.verify_client(&sha, &secret, &auth.proof).is_err() {
        let refuse = Refuse {
            code: RefuseCode::AuthFailed,
            min_version: 2,
            max_version: 2,
            retry_after_ms: 0,
            message: "authentication failed",
        };
        send_frame(s, &Message::Refuse(refuse));
        return false;
    }
    let welcome = Welcome {
        version: 2,
        features: KNOWN_FEATURES,
        cluster_uuid: uuid,
        host: name,
        proof: t.server_proof(&sha, &secret).unwrap(),
    };
    send_frame(s, &Message::Welcome(welcome));
    true
}

/// A member at a local address that answers one handshake as the kernel does: it holds the
/// secret `hex` and is host `name`. Returns `ip:port` and the thread, which returns what
/// the client proved (`true`: its proof verified).
pub fn fake_peer(hex: &str, name: &'static str) -> (String, std::thread::JoinHandle<bool>) {
    let hex = hex.to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        answer_handshake(&mut s, &hex, name, "bravo_1900000000.000000000")
    });
    (addr, thread)
}
