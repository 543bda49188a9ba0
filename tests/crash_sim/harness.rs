//! Helpers of the crash simulation tests: a daemon with `--crash-sim`, its
//! control socket, FUSE calls the shared client lacks, and a snapshot of the
//! host tree to compare the post-crash state with.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::daemon::{DaemonProcess, TestDirs};
use crate::common::fuse_client::FuseClient;
use crate::common::vmm::VmmOptions;
use epochfsd::fuse::abi::{self, Opcode};
use zerocopy::IntoBytes;

pub const RDWR: u32 = libc::O_RDWR as u32;

/// A daemon in crash-sim `mode`, its control socket and a client.
pub struct Sim {
    pub daemon: DaemonProcess,
    pub client: FuseClient,
    pub control: PathBuf,
}

/// Starts a daemon with `--crash-sim mode` over a share that `populate`
/// fills first (what is there before the daemon starts is durable).
pub fn start(mode: &str, queues: usize, extra: &[&str], populate: impl FnOnce(&Path)) -> Sim {
    let dirs = TestDirs::new();
    populate(&dirs.share);
    let control = dirs.root.path().join("control.sock");
    let control_arg = control.display().to_string();
    let mut args = vec![
        "--crash-sim",
        mode,
        "--control-socket",
        control_arg.as_str(),
        "--cache",
        "never",
    ];
    args.extend_from_slice(extra);
    let daemon = DaemonProcess::spawn(dirs, queues, &args);
    let client = crate::common::connect(daemon.socket(), queues, VmmOptions::default());
    Sim {
        daemon,
        client,
        control,
    }
}

impl Sim {
    /// Sends one control command, returns the reply line.
    pub fn command(&self, command: &str) -> String {
        command_at(&self.control, command)
    }

    /// Sends `crash`, checks the reply and that the daemon exits 0.
    pub fn crash(mut self) -> (PathBuf, String, DaemonProcess) {
        let reply = self.command("crash");
        assert!(reply.contains("\"crashed\":true"), "crash reply {reply}");
        let status = self.daemon.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "daemon after crash: {status:?}; log:\n{}",
            self.daemon.log()
        );
        (self.daemon.share().to_path_buf(), reply, self.daemon)
    }

    /// A numeric field of `status`.
    pub fn status_field(&self, name: &str) -> u64 {
        let reply = self.command("status");
        json_u64(&reply, name).unwrap_or_else(|| panic!("no {name} in {reply}"))
    }
}

/// One command on the control socket at `path`; the reply line.
pub fn command_at(path: &Path, command: &str) -> String {
    let mut stream = UnixStream::connect(path).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

/// The number after `"name":` in a JSON line.
pub fn json_u64(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What the host tree holds, path -> node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { data: Vec<u8>, mode: u32 },
    Dir { mode: u32 },
    Symlink(PathBuf),
}

/// The whole tree under `root`, hidden names included.
pub fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let mode = meta.permissions().mode() & 0o7777;
        let node = if meta.file_type().is_symlink() {
            Node::Symlink(fs::read_link(&path).unwrap())
        } else if meta.is_dir() {
            walk(root, &path, out);
            Node::Dir { mode }
        } else {
            Node::File {
                data: fs::read(&path).unwrap(),
                mode,
            }
        };
        out.insert(rel, node);
    }
}

/// A file node with `data` and mode 0644.
pub fn file(data: &[u8]) -> Node {
    Node::File {
        data: data.to_vec(),
        mode: 0o644,
    }
}

/// A directory node with mode 0755.
pub fn dir() -> Node {
    Node::Dir { mode: 0o755 }
}

/// Writes `data` to `name` under `root` with mode 0644.
pub fn put(root: &Path, name: &str, data: &[u8]) {
    let path = root.join(name);
    fs::write(&path, data).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
}

/// Makes directory `name` under `root` with mode 0755.
pub fn mkdir(root: &Path, name: &str) {
    let path = root.join(name);
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// FSYNCDIR of directory `nodeid` (opened and released around it).
pub fn fsyncdir(c: &mut FuseClient, nodeid: u64) {
    let fh = c.opendir(nodeid).expect("opendir").fh;
    let arg = abi::FsyncIn {
        fh,
        fsync_flags: 0,
        padding: 0,
    };
    c.call(Opcode::Fsyncdir, nodeid, &[arg.as_bytes()], 0)
        .expect("fsyncdir");
    c.releasedir(nodeid, fh).expect("releasedir");
}

/// Opens `name` in `parent` for writing: its node id and handle.
pub fn open_rw(c: &mut FuseClient, parent: u64, name: &[u8]) -> (u64, u64) {
    let node = c.lookup(parent, name).expect("lookup").nodeid;
    let fh = c.open(node, RDWR).expect("open").fh;
    (node, fh)
}

/// Creates `name` in `parent` with mode 0644: node id and handle.
pub fn create(c: &mut FuseClient, parent: u64, name: &[u8]) -> (u64, u64) {
    let (entry, open) = c.create(parent, name, RDWR, 0o644).expect("create");
    (entry.nodeid, open.fh)
}

/// `lgetxattr(2)` of `name` on `path`; `None` if it has none.
pub fn host_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated; `buf` is writable for its length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(len).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// `lsetxattr(2)` of `name` to `value` on `path`.
pub fn set_host_xattr(path: &Path, name: &str, value: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated; `value` is readable for its length.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "lsetxattr: {}", std::io::Error::last_os_error());
}
