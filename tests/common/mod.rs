//! Test harness shared by the integration tests: a fake VMM speaking
//! vhost-user to the daemon, a FUSE client on top of it, and daemon launchers.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod daemon;
pub mod fuse_client;
pub mod fuse_client_ext;
pub mod fuse_client_namespace;
pub mod malformed;
pub mod migration;
pub mod neighbour;
pub mod slowfs;
pub mod userns;
pub mod vmm;

use std::path::Path;

use daemon::{DaemonProcess, TestDirs};
use fuse_client::FuseClient;
use vmm::{TestVmm, VmmOptions};

/// A daemon process with `num_request_queues` request queues, a connected
/// VMM and a client that has done INIT.
pub fn start(num_request_queues: usize, extra_args: &[&str]) -> (DaemonProcess, FuseClient) {
    let daemon = DaemonProcess::spawn(TestDirs::new(), num_request_queues, extra_args);
    let client = connect(daemon.socket(), num_request_queues, VmmOptions::default());
    (daemon, client)
}

/// Connects a VMM to `socket` and returns a client that has done INIT.
pub fn connect(socket: &Path, num_request_queues: usize, opts: VmmOptions) -> FuseClient {
    let vmm = TestVmm::connect(socket, num_request_queues + 1, opts);
    let mut client = FuseClient::new(vmm);
    let init = client.init().expect("INIT");
    assert_eq!(init.major, 7, "INIT reply major");
    client
}
