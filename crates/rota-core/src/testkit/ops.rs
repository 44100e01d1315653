//! The random operations of the writers.

use super::*;

/// One swap item as a writer means it, resolved against that writer's (possibly stale) view.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub original: usize,
    pub new: usize,
    /// `None`: the owner of the original shift as the writer saw it; else an agent index.
    pub agent: Option<usize>,
    /// `Some(None)`: name the new shift's owner as the writer saw it; `Some(Some(i))`: agent i.
    pub counterpart: Option<Option<usize>>,
}

#[derive(Debug, Clone)]
pub enum EditSpec {
    Reassign(usize),
    Open,
    /// Move the shift later by this many minutes inside its two-hour slot.
    Move(i64),
}

#[derive(Debug, Clone)]
pub enum Op {
    Read {
        writer: usize,
    },
    Swap {
        writer: usize,
        items: Vec<ItemSpec>,
        mode: SwapMode,
        scope: ConflictScope,
    },
    Edit {
        writer: usize,
        shift: usize,
        change: EditSpec,
    },
    /// Approved time off for `agent` over the middle half hour of `shift`'s two-hour slot
    /// (policy `always`, effect `open`).
    TimeOff {
        agent: usize,
        shift: usize,
    },
}

pub fn ops(world: &World, writers: usize, len: usize) -> impl Strategy<Value = Vec<Op>> {
    let shifts = world.schedule.shifts.len();
    let agents = world.agents.len();
    let item = (
        0..shifts,
        0..shifts,
        prop::option::weighted(0.1, 0..agents),
        prop::option::weighted(0.3, prop::option::weighted(0.2, 0..agents)),
    )
        .prop_map(|(original, new, agent, counterpart)| ItemSpec {
            original,
            new,
            agent,
            counterpart,
        });
    let swap = (
        0..writers,
        prop::collection::vec(item, 1..6),
        prop_oneof![Just(SwapMode::Atomic), Just(SwapMode::Partial)],
        prop_oneof![3 => Just(ConflictScope::Shifts), 1 => Just(ConflictScope::Schedule)],
    )
        .prop_map(|(writer, items, mode, scope)| Op::Swap {
            writer,
            items,
            mode,
            scope,
        });
    let edit = (
        0..writers,
        0..shifts,
        prop_oneof![
            (0..agents).prop_map(EditSpec::Reassign),
            Just(EditSpec::Open),
            (0i64..60).prop_map(EditSpec::Move),
        ],
    )
        .prop_map(|(writer, shift, change)| Op::Edit {
            writer,
            shift,
            change,
        });
    let time_off = (0..agents, 0..shifts).prop_map(|(agent, shift)| Op::TimeOff { agent, shift });
    let op = prop_oneof![
        2 => (0..writers).prop_map(|writer| Op::Read { writer }),
        5 => swap,
        2 => edit,
        1 => time_off,
    ];
    prop::collection::vec(op, 1..len)
}
