//! The load engine: keeps `depth` operations in flight on each request queue
//! of a [`TestVmm`] and measures them.
//!
//! Every request is laid out once per slot in guest memory, the way a Linux
//! guest sends it: one ring descriptor pointing at an indirect table whose
//! entries are the `InHeader`, the arguments and the payload pages (readable),
//! then the `OutHeader` and the reply (writable). Per request only the header
//! and the argument bytes are rewritten, so the client's own cost stays small
//! and equal for every daemon. Kicks are suppressed with EVENT_IDX like the
//! guest driver does, and one client thread serves all queues.

use std::time::{Duration, Instant};

use epochfsd::fuse::abi::{InHeader, OutHeader};
use vm_memory::GuestAddress;
use zerocopy::{FromBytes, IntoBytes};

use crate::common::vmm::{
    RawDesc, TestVmm, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};

/// One request shape of one slot, prepared in guest memory.
pub struct Step {
    /// The queue it goes to (0 = high priority).
    pub queue: usize,
    /// Opcode put in the header.
    pub opcode: u32,
    /// Indirect table address and its descriptor count.
    table: GuestAddress,
    ndesc: u32,
    /// Where the `InHeader` goes.
    header: GuestAddress,
    /// Readable argument buffers after the header, in order.
    pub args: Vec<(GuestAddress, u32)>,
    /// Bytes of arguments the header announces (args and payload).
    args_len: u32,
    /// The `OutHeader` buffer; the reply body follows in `reply`.
    out: GuestAddress,
    /// The writable reply body buffers.
    pub reply: Vec<(GuestAddress, u32)>,
}

/// Lays out one request: readable buffers (`args`, which must include any
/// payload pages) after a fresh header buffer, then an `OutHeader` buffer and
/// the writable `reply` buffers; writes the indirect table.
pub fn prepare(
    vmm: &mut TestVmm,
    queue: usize,
    opcode: u32,
    args: Vec<(GuestAddress, u32)>,
    reply: Vec<(GuestAddress, u32)>,
) -> Step {
    let header = vmm.alloc(size_of::<InHeader>() as u64);
    let out = vmm.alloc(size_of::<OutHeader>() as u64);
    let mut descs = vec![(header, size_of::<InHeader>() as u32, 0)];
    descs.extend(args.iter().map(|&(a, l)| (a, l, 0)));
    if queue != 0 {
        // Requests on the high-priority queue (FORGET) get no reply.
        descs.push((out, size_of::<OutHeader>() as u32, VRING_DESC_F_WRITE));
    }
    descs.extend(reply.iter().map(|&(a, l)| (a, l, VRING_DESC_F_WRITE)));
    let n = descs.len();
    let raw: Vec<RawDesc> = descs
        .iter()
        .enumerate()
        .map(|(i, &(a, len, flags))| RawDesc {
            addr: a.0,
            len,
            flags: flags | if i + 1 < n { VRING_DESC_F_NEXT } else { 0 },
            next: if i + 1 < n { (i + 1) as u16 } else { 0 },
        })
        .collect();
    let table = vmm.write_desc_table(&raw);
    Step {
        queue,
        opcode,
        table,
        ndesc: n as u32,
        header,
        args_len: args.iter().map(|&(_, l)| l).sum(),
        args,
        out,
        reply,
    }
}

/// What a workload does; one operation is a sequence of steps (requests),
/// each sent after the previous one completed.
pub trait Workload {
    /// Short name used in reports.
    fn name(&self) -> &'static str;
    /// Payload bytes moved per operation (0 for metadata).
    fn bytes_per_op(&self) -> u64;
    /// Prepares the steps of slot `slot` on request queue `queue`.
    fn prepare(&mut self, vmm: &mut TestVmm, queue: usize, slot: usize) -> Vec<Step>;
    /// Writes the variable argument bytes of `step` (number `index`) for the
    /// slot's next request and returns the header's `nodeid`.
    fn fill(&mut self, vmm: &TestVmm, slot: &mut SlotState, index: usize, step: &Step) -> u64;
    /// Checks a completed step's reply body; may record ids in `slot`.
    fn check(
        &mut self,
        vmm: &TestVmm,
        slot: &mut SlotState,
        index: usize,
        step: &Step,
    ) -> Result<(), String>;
}

/// Per-slot values carried between the steps of one operation.
#[derive(Default)]
pub struct SlotState {
    /// Operations started by this slot.
    pub ops: u64,
    pub nodeid: u64,
    pub fh: u64,
}

struct Slot {
    steps: Vec<Step>,
    step: usize,
    started: Instant,
    state: SlotState,
}

/// Measured numbers of one run.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ops: u64,
    pub secs: f64,
    /// Operation latencies, nanoseconds, sorted.
    pub latencies: Vec<u64>,
}

impl Measured {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// The `p`-th percentile latency in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p / 100.0).round() as usize;
        self.latencies[i] as f64 / 1000.0
    }
}

/// How long to run and what to call at the edges of the measured window.
pub struct RunSpec<'a> {
    pub queues: usize,
    pub depth: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Called when the measured window opens and when it closes.
    pub on_window: &'a mut dyn FnMut(bool),
}

/// Runs `work` with `depth` operations in flight on each of request queues
/// `1..=queues` and returns what the measured window saw.
pub fn run(vmm: &mut TestVmm, work: &mut dyn Workload, spec: RunSpec) -> Result<Measured, String> {
    let mut slots = Vec::new();
    for q in 1..=spec.queues {
        for s in 0..spec.depth {
            slots.push(Slot {
                steps: work.prepare(vmm, q, s),
                step: 0,
                started: Instant::now(),
                state: SlotState::default(),
            });
        }
    }
    // Which slot owns each (queue, head); heads are descriptor indices.
    let mut owner = vec![vec![usize::MAX; 1024]; vmm.num_queues()];
    let queues: Vec<usize> = (0..vmm.num_queues()).collect();
    let mut unique = 1u64 << 40;
    let mut kick = vec![false; vmm.num_queues()];
    for i in 0..slots.len() {
        send(vmm, work, &mut slots[i], i, &mut owner, &mut unique);
        kick[slots[i].steps[0].queue] = true;
    }
    flush_kicks(vmm, &mut kick);

    let start = Instant::now();
    let open = start + spec.warmup;
    let close = open + spec.measure;
    let (mut opened, mut closed) = (false, false);
    let mut m = Measured {
        latencies: Vec::with_capacity(1 << 20),
        ..Default::default()
    };
    let mut in_flight = slots.len();
    while in_flight > 0 {
        let now = Instant::now();
        if !opened && now >= open {
            opened = true;
            (spec.on_window)(true);
        }
        if !closed && now >= close {
            closed = true;
            (spec.on_window)(false);
        }
        let mut any = false;
        for &q in &queues {
            while let Some(u) = vmm.try_used(q) {
                any = true;
                let i = std::mem::replace(&mut owner[q][usize::from(u.head)], usize::MAX);
                if i == usize::MAX {
                    return Err(format!("queue {q}: unexpected head {}", u.head));
                }
                let slot = &mut slots[i];
                complete(vmm, work, slot, u.len)?;
                slot.step += 1;
                if slot.step == slot.steps.len() {
                    slot.step = 0;
                    let done = Instant::now();
                    if opened && !closed && slot.started >= open {
                        m.ops += 1;
                        m.latencies.push((done - slot.started).as_nanos() as u64);
                    }
                    if closed {
                        in_flight -= 1;
                        continue;
                    }
                }
                send(vmm, work, slot, i, &mut owner, &mut unique);
                kick[slot.steps[slot.step].queue] = true;
            }
        }
        flush_kicks(vmm, &mut kick);
        if !any && !vmm.wait_any(&queues, Duration::from_secs(10)) {
            return Err(format!("no completion within 10 s ({in_flight} in flight)"));
        }
    }
    m.secs = spec.measure.as_secs_f64();
    m.latencies.sort_unstable();
    Ok(m)
}

fn flush_kicks(vmm: &mut TestVmm, kick: &mut [bool]) {
    for (q, k) in kick.iter_mut().enumerate() {
        if std::mem::take(k) {
            vmm.notify(q);
        }
    }
}

fn send(
    vmm: &mut TestVmm,
    work: &mut dyn Workload,
    slot: &mut Slot,
    index: usize,
    owner: &mut [Vec<usize>],
    unique: &mut u64,
) {
    if slot.step == 0 {
        slot.state.ops += 1;
        slot.started = Instant::now();
    }
    let step = &slot.steps[slot.step];
    let nodeid = work.fill(vmm, &mut slot.state, slot.step, step);
    *unique += 2;
    let header = InHeader {
        len: size_of::<InHeader>() as u32 + step.args_len,
        opcode: step.opcode,
        unique: *unique,
        nodeid,
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        uid: unsafe { libc::getuid() },
        // SAFETY: as above.
        gid: unsafe { libc::getgid() },
        pid: 1,
        total_extlen: 0,
        padding: 0,
    };
    vmm.write_guest(step.header, header.as_bytes());
    let head = vmm.submit_raw(
        step.queue,
        &[RawDesc {
            addr: step.table.0,
            len: step.ndesc * 16,
            flags: VRING_DESC_F_INDIRECT,
            next: 0,
        }],
    );
    owner[step.queue][usize::from(head)] = index;
}

fn complete(
    vmm: &TestVmm,
    work: &mut dyn Workload,
    slot: &mut Slot,
    used: u32,
) -> Result<(), String> {
    let step = &slot.steps[slot.step];
    if step.queue == 0 {
        return Ok(()); // FORGET: no reply
    }
    let bytes = vmm.read_guest(step.out, size_of::<OutHeader>());
    let (out, _) = OutHeader::read_from_prefix(&bytes).map_err(|_| "short header".to_string())?;
    if out.error != 0 || out.len != used {
        return Err(format!(
            "opcode {}: error {} (len {}, used {used})",
            step.opcode, out.error, out.len
        ));
    }
    work.check(vmm, &mut slot.state, slot.step, step)
}
