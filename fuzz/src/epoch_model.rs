//! Target 3: the epoch tracker against a trivially correct model.
//!
//! The input is a sequence of operations on one [`EpochTracker`]: members
//! join on a shard and leave, SYNCFS tickets close epochs and end (commit or
//! drop), members touch inodes, tickets take their dirty sets. The model
//! keeps plain lists: the epoch of every live member and ticket, and every
//! touch not taken yet. After each step the tracker must agree with it:
//!
//! * a ticket of epoch `t` is ready (`is_drained`, `wait_timeout(0)`)
//!   exactly when no member of an epoch `<= t` and no ticket of an epoch
//!   `< t` is still live (a ticket counts as a member of the epoch after
//!   its own);
//! * a join enters the current epoch, and `try_close_epoch` succeeds exactly
//!   when the epoch that last used the next slot is drained;
//! * `take_dirty` returns the inodes touched in the covered epochs and not
//!   taken before, plus what tickets dropped without commit held; it is
//!   incomplete for the first ticket, after an overflow of the per-shard
//!   bound, and after such a set was handed back;
//! * the statistics count the closes and overflows.
//!
//! # Input format
//!
//! ```text
//! input  := config:u8 (kind:u8 a:u8 b:u8)*
//! config bits 0-1: shards - 1; bits 2-4: dirty bound - 1 (bit 7: the
//!        default bound instead)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use epochfsd::epoch::{EpochGuard, EpochTracker, SyncTicket, TrackerConfig, EPOCH_SLOTS};

use crate::Bytes;

type Guard<'a> = EpochGuard<&'a EpochTracker>;
type Ticket<'a> = SyncTicket<&'a EpochTracker>;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Bytes::new(data);
    let config = input.u8();
    let shards = usize::from(config & 3) + 1;
    let max_dirty = if config & 0x80 != 0 {
        TrackerConfig::DEFAULT_MAX_DIRTY_PER_EPOCH
    } else {
        usize::from((config >> 2) & 7) + 1
    };
    let tracker = EpochTracker::new(TrackerConfig {
        shards,
        max_dirty_per_epoch: max_dirty,
    })
    .expect("at least one shard");
    let mut state = State::new(&tracker, shards, max_dirty);
    while !input.is_empty() {
        let (kind, a, b) = (input.u8(), input.u8(), input.u8());
        state.step(kind, a, b);
        state.check_all_tickets();
    }
    state.finish();
}

/// Dirty inodes: the model of both the tracker's per-epoch sets and of a
/// taken union.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dirty {
    files: BTreeSet<u64>,
    dirs: BTreeSet<u64>,
    complete: bool,
}

impl Dirty {
    fn complete() -> Self {
        Dirty {
            complete: true,
            ..Dirty::default()
        }
    }

    fn incomplete() -> Self {
        Dirty::default()
    }

    fn merge(&mut self, other: &Dirty) {
        if !other.complete {
            *self = Dirty::incomplete();
        } else if self.complete {
            self.files.extend(&other.files);
            self.dirs.extend(&other.dirs);
        }
    }
}

/// One shard's untaken set of one epoch.
#[derive(Debug, Default)]
struct EpochSet {
    files: BTreeSet<u64>,
    dirs: BTreeSet<u64>,
    overflowed: bool,
}

struct Member<'a> {
    guard: Guard<'a>,
    epoch: u64,
    shard: usize,
}

struct LiveTicket<'a> {
    ticket: Ticket<'a>,
    epoch: u64,
    /// What it took so far (handed back if dropped without commit).
    taken: Option<Dirty>,
}

struct State<'a> {
    tracker: &'a EpochTracker,
    shards: usize,
    max_dirty: usize,
    current: u64,
    closes: u64,
    overflows: u64,
    members: Vec<Member<'a>>,
    tickets: Vec<LiveTicket<'a>>,
    /// Untaken sets by (shard, epoch).
    sets: BTreeMap<(usize, u64), EpochSet>,
    /// Handed back by dropped tickets; "incomplete" at first.
    carry: Dirty,
}

impl<'a> State<'a> {
    fn new(tracker: &'a EpochTracker, shards: usize, max_dirty: usize) -> Self {
        State {
            tracker,
            shards,
            max_dirty,
            current: 0,
            closes: 0,
            overflows: 0,
            members: Vec::new(),
            tickets: Vec::new(),
            sets: BTreeMap::new(),
            carry: Dirty::incomplete(),
        }
    }

    fn step(&mut self, kind: u8, a: u8, b: u8) {
        match kind % 9 {
            0 | 1 => self.join(usize::from(a)),
            2 => self.leave(usize::from(a)),
            3 => self.close(b & 1 != 0),
            4 => self.end_ticket(usize::from(a), b & 1 != 0),
            5 | 6 => self.touch(usize::from(a), u64::from(b & 0x3f), b & 0x40 != 0),
            7 => self.take(usize::from(a)),
            _ => self.check_stats(),
        }
    }

    fn join(&mut self, shard: usize) {
        let guard = self.tracker.join(shard);
        assert_eq!(
            guard.epoch(),
            self.current,
            "a join enters the current epoch"
        );
        assert_eq!(guard.shard(), shard % self.shards, "join shard");
        self.members.push(Member {
            guard,
            epoch: self.current,
            shard: shard % self.shards,
        });
    }

    fn leave(&mut self, index: usize) {
        if !self.members.is_empty() {
            let member = self.members.swap_remove(index % self.members.len());
            drop(member.guard);
        }
    }

    /// Whether every epoch `<= epoch` is drained, by the model.
    fn drained(&self, epoch: u64) -> bool {
        epoch < self.current
            && self.members.iter().all(|m| m.epoch > epoch)
            && self.tickets.iter().all(|t| t.epoch + 1 > epoch)
    }

    fn close(&mut self, blocking: bool) {
        let next = self.current + 1;
        let free = next
            .checked_sub(EPOCH_SLOTS as u64)
            .is_none_or(|previous| self.drained(previous));
        let ticket = if blocking && free {
            Some(self.tracker.close_epoch())
        } else {
            self.tracker.try_close_epoch()
        };
        assert_eq!(
            ticket.is_some(),
            free,
            "close possible at epoch {}",
            self.current
        );
        if let Some(ticket) = ticket {
            assert_eq!(
                ticket.epoch(),
                self.current,
                "a ticket closes the current epoch"
            );
            self.tickets.push(LiveTicket {
                ticket,
                epoch: self.current,
                taken: None,
            });
            self.current = next;
            self.closes += 1;
        }
        assert_eq!(self.tracker.current_epoch(), self.current, "current epoch");
    }

    fn end_ticket(&mut self, index: usize, commit: bool) {
        if self.tickets.is_empty() {
            return;
        }
        let live = self.tickets.swap_remove(index % self.tickets.len());
        if commit {
            live.ticket.commit();
        } else {
            drop(live.ticket);
            if let Some(taken) = &live.taken {
                self.carry.merge(taken);
            }
        }
    }

    fn touch(&mut self, index: usize, inode: u64, dir: bool) {
        if self.members.is_empty() {
            return;
        }
        let member = &self.members[index % self.members.len()];
        if dir {
            member.guard.touch_dir(inode);
        } else {
            member.guard.touch(inode);
        }
        let set = self.sets.entry((member.shard, member.epoch)).or_default();
        if set.overflowed {
            return;
        }
        let list = if dir { &set.dirs } else { &set.files };
        if list.contains(&inode) {
            return;
        }
        if set.files.len() + set.dirs.len() >= self.max_dirty {
            *set = EpochSet {
                overflowed: true,
                ..EpochSet::default()
            };
            self.overflows += 1;
            return;
        }
        if dir {
            set.dirs.insert(inode);
        } else {
            set.files.insert(inode);
        }
    }

    fn take(&mut self, index: usize) {
        if self.tickets.is_empty() {
            return;
        }
        let index = index % self.tickets.len();
        let epoch = self.tickets[index].epoch;
        let mut union = std::mem::replace(&mut self.carry, Dirty::complete());
        let covered: Vec<(usize, u64)> = self
            .sets
            .keys()
            .filter(|(_, e)| *e <= epoch)
            .copied()
            .collect();
        for key in covered {
            let set = self.sets.remove(&key).expect("listed key");
            if set.overflowed {
                union = Dirty::incomplete();
            } else if union.complete {
                union.files.extend(set.files);
                union.dirs.extend(set.dirs);
            }
        }
        let live = &mut self.tickets[index];
        let got = self.tracker.take_dirty(&live.ticket);
        let expected_files: Vec<u64> = union.files.iter().copied().collect();
        let expected_dirs: Vec<u64> = union.dirs.iter().copied().collect();
        assert_eq!(got.complete, union.complete, "dirty set complete");
        assert_eq!(got.files, expected_files, "dirty files");
        assert_eq!(got.dirs, expected_dirs, "dirty dirs");
        match &mut live.taken {
            Some(held) => held.merge(&union),
            None => live.taken = Some(union),
        }
    }

    fn check_stats(&self) {
        let stats = self.tracker.stats();
        assert_eq!(stats.current_epoch, self.current, "stats: current epoch");
        assert_eq!(stats.epochs_closed, self.closes, "stats: epochs closed");
        assert_eq!(stats.overflows, self.overflows, "stats: overflows");
    }

    /// Every live ticket is ready exactly when the model says so.
    fn check_all_tickets(&self) {
        for live in &self.tickets {
            let ready = self.drained(live.epoch);
            assert_eq!(
                self.tracker.is_drained(&live.ticket),
                ready,
                "ticket of epoch {} ready (current {}, members {:?}, tickets {:?})",
                live.epoch,
                self.current,
                self.members.iter().map(|m| m.epoch).collect::<Vec<_>>(),
                self.tickets.iter().map(|t| t.epoch).collect::<Vec<_>>()
            );
            assert_eq!(
                self.tracker.wait_timeout(&live.ticket, Duration::ZERO),
                ready,
                "wait_timeout(0) of the ticket of epoch {}",
                live.epoch
            );
            if ready {
                // Returns at once; would block forever otherwise.
                self.tracker.wait(&live.ticket);
            }
        }
    }

    /// With every member and ticket gone, a new SYNCFS is ready at once.
    fn finish(mut self) {
        self.members.clear();
        self.tickets.clear();
        self.check_stats();
        let ticket = self
            .tracker
            .try_close_epoch()
            .expect("a free slot once everything left");
        assert!(self.tracker.is_drained(&ticket), "nothing left to wait for");
    }
}
