//! The vhost-user side of the daemon: what it offers in the handshake, ring
//! configurations a VMM may pick, and its lifetime around a connection.

mod common;

use std::time::Duration;

use common::daemon::{DaemonProcess, DaemonThread, TestDirs};
use common::fuse_client::{ChainMode, FuseClient};
use common::vmm::{
    TestVmm, VmmOptions, VHOST_USER_F_PROTOCOL_FEATURES, VIRTIO_F_VERSION_1,
    VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC,
};
use epochfsd::fuse::abi::ROOT_ID;
use vhost::vhost_user::message::{VhostUserConfigFlags, VhostUserProtocolFeatures};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::VhostBackend;

fn daemon() -> DaemonProcess {
    DaemonProcess::spawn(TestDirs::new(), 1, &[])
}

fn client(d: &DaemonProcess, opts: VmmOptions) -> FuseClient {
    common::connect(d.socket(), 1, opts)
}

/// A bare frontend that has done GET_FEATURES only.
fn bare_frontend(d: &DaemonProcess) -> (Frontend, u64) {
    let f = Frontend::connect(d.socket(), 2).expect("connect");
    let features = f.get_features().expect("GET_FEATURES");
    (f, features)
}

#[test]
fn offers_version_1_indirect_event_idx_and_protocol_features() {
    let d = daemon();

    let (_f, features) = bare_frontend(&d);

    for (bit, name) in [
        (VIRTIO_F_VERSION_1, "VERSION_1"),
        (VIRTIO_RING_F_INDIRECT_DESC, "RING_INDIRECT_DESC"),
        (VIRTIO_RING_F_EVENT_IDX, "RING_EVENT_IDX"),
        (VHOST_USER_F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES"),
    ] {
        assert_ne!(features & bit, 0, "{name} not offered ({features:#x})");
    }
}

#[test]
fn offers_mq_and_reply_ack_protocol_features() {
    let d = daemon();
    let (mut f, _) = bare_frontend(&d);

    let proto = f.get_protocol_features().unwrap();

    assert!(proto.contains(VhostUserProtocolFeatures::MQ), "{proto:?}");
    assert!(
        proto.contains(VhostUserProtocolFeatures::REPLY_ACK),
        "{proto:?}"
    );
}

#[test]
fn offers_the_migration_protocol_features() {
    let d = daemon();
    let (mut f, _) = bare_frontend(&d);

    let proto = f.get_protocol_features().unwrap();

    let features = f.get_features().unwrap();

    assert!(
        proto.contains(VhostUserProtocolFeatures::DEVICE_STATE),
        "{proto:?}"
    );
    assert!(
        proto.contains(VhostUserProtocolFeatures::LOG_SHMFD),
        "{proto:?}"
    );
    assert_ne!(features & (1 << 26), 0, "VHOST_F_LOG_ALL ({features:#x})");
}

#[test]
fn config_protocol_feature_is_not_offered_without_a_tag() {
    let d = daemon();
    let (mut f, _) = bare_frontend(&d);

    let proto = f.get_protocol_features().unwrap();

    assert!(
        !proto.contains(VhostUserProtocolFeatures::CONFIG),
        "CONFIG offered without a tag (crashes QEMU 7.1 to 8.0)"
    );
}

#[test]
fn config_space_holds_tag_and_queue_count_when_tag_given() {
    let d = DaemonProcess::spawn(TestDirs::new(), 3, &["--tag", "myfs"]);
    let (mut f, _) = bare_frontend(&d);
    let proto = f.get_protocol_features().unwrap();
    assert!(
        proto.contains(VhostUserProtocolFeatures::CONFIG),
        "CONFIG not offered with --tag ({proto:?})"
    );
    f.set_protocol_features(
        proto
            & (VhostUserProtocolFeatures::MQ
                | VhostUserProtocolFeatures::REPLY_ACK
                | VhostUserProtocolFeatures::CONFIG),
    )
    .unwrap();

    let (_, config) = f
        .get_config(0, 40, VhostUserConfigFlags::empty(), &[0u8; 40])
        .expect("GET_CONFIG");

    assert_eq!(&config[..4], b"myfs");
    assert!(config[4..36].iter().all(|&b| b == 0), "tag not NUL-padded");
    assert_eq!(u32::from_le_bytes(config[36..40].try_into().unwrap()), 3);
}

#[test]
fn requests_are_served_without_event_idx() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            event_idx: false,
            ..Default::default()
        },
    );

    let ok = (0..20).all(|_| c.getattr(ROOT_ID).is_ok());

    assert_eq!(c.vmm.acked_features() & VIRTIO_RING_F_EVENT_IDX, 0);
    assert!(ok);
}

#[test]
fn requests_are_served_without_indirect_descriptors_negotiated() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            indirect: false,
            ..Default::default()
        },
    );

    let r = c.getattr(ROOT_ID);

    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn requests_are_served_through_indirect_tables() {
    let d = daemon();
    let mut c = client(&d, VmmOptions::default());
    c.mode = ChainMode::Indirect;

    let r = c.getattr(ROOT_ID);

    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn requests_are_served_past_ring_wraparound() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            queue_size: 16,
            ..Default::default()
        },
    );

    let ok = (0..200).filter(|_| c.getattr(ROOT_ID).is_ok()).count();

    assert_eq!(ok, 200);
}

#[test]
fn ring_indices_wrapping_past_65535_are_followed() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            ring_base: 65_530,
            queue_size: 64,
            ..Default::default()
        },
    );

    let ok = (0..20).filter(|_| c.getattr(ROOT_ID).is_ok()).count();

    assert_eq!(ok, 20);
}

#[test]
fn get_vring_base_reports_requests_taken_from_queue() {
    let d = daemon();
    let mut c = client(&d, VmmOptions::default());
    for _ in 0..5 {
        c.getattr(ROOT_ID).unwrap();
    }

    let base = c.vmm.frontend().get_vring_base(1).expect("GET_VRING_BASE");

    assert_eq!(base, 6, "INIT and five GETATTRs were taken from queue 1");
}

#[test]
fn qemu_default_queue_size_128_works() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            queue_size: 128,
            ..Default::default()
        },
    );

    let r = c.getattr(ROOT_ID);

    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn buffers_in_second_memory_region_are_served() {
    let d = daemon();
    let mut c = client(&d, VmmOptions::default());
    c.vmm.alloc_from_region(1);

    let r = c.getattr(ROOT_ID);

    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn single_memory_region_works() {
    let d = daemon();
    let mut c = client(
        &d,
        VmmOptions {
            two_regions: false,
            ..Default::default()
        },
    );

    let r = c.getattr(ROOT_ID);

    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn daemon_process_exits_after_frontend_disconnects() {
    let mut d = daemon();
    let c = client(&d, VmmOptions::default());

    drop(c);

    let st = d.wait_exit(Duration::from_secs(10));
    assert!(st.is_some(), "daemon still running after disconnect");
    assert!(st.unwrap().success(), "exit status {:?}", st);
}

#[test]
fn daemon_process_exits_promptly_on_sigterm() {
    let mut d = daemon();
    let _c = client(&d, VmmOptions::default());

    let pid = d.pid();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };

    let st = d.wait_exit(Duration::from_secs(5));
    assert!(st.is_some(), "daemon ignored SIGTERM for 5 s");
}

#[test]
fn in_process_run_returns_ok_after_disconnect() {
    let d = DaemonThread::spawn(TestDirs::new(), 1, &[]);
    let vmm = TestVmm::connect(d.socket(), 2, VmmOptions::default());

    drop(vmm);

    let r = d.join(Duration::from_secs(10));
    assert!(matches!(r, Some(Ok(()))), "run() gave {r:?}");
}
