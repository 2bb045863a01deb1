//! How a new local change merges into a pending one of the same entity that was never sent.
//!
//! | queued | new | result |
//! |---|---|---|
//! | create | update | create, with the latest state |
//! | update | update | update, with the latest state |
//! | create | delete | nothing: the server never heard of it (a delete instead when an earlier entry of the entity was already sent: see `queue::enqueue`) |
//! | update | delete | delete |
//! | delete | delete | delete, with the latest version |
//! | delete | create or update | update, with the latest state |
//!
//! Only an entry that was never sent is rewritten. One that was sent may have been
//! processed by the server under its id, so rewriting it would turn the new state into a
//! "duplicate" and lose it: a new edit then gets an entry of its own.

use sync_core::change::Operation;

/// The operation of the merged entry, or `None` when the two cancel out.
pub(crate) fn coalesce(queued: Operation, new: Operation) -> Option<Operation> {
    use Operation::{Create, Delete, Update};
    match (queued, new) {
        (Create, Create | Update) => Some(Create),
        (Create, Delete) => None,
        (Update | Delete, Create | Update) => Some(Update),
        (Update | Delete, Delete) => Some(Delete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An entity's state as last-write-wins leaves it, with its version.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum State {
        Absent,
        Live { version: u32, data: u32 },
        Dead { version: u32 },
    }

    impl State {
        fn version(self) -> Option<u32> {
            match self {
                State::Absent => None,
                State::Live { version, .. } | State::Dead { version } => Some(version),
            }
        }

        fn is_live(self) -> bool {
            matches!(self, State::Live { .. })
        }

        /// What the server does with `change` under last-write-wins.
        fn apply(self, change: Queued) -> State {
            if self
                .version()
                .is_some_and(|stored| change.version <= stored)
            {
                return self;
            }
            match change.operation {
                Operation::Delete => State::Dead {
                    version: change.version,
                },
                Operation::Create | Operation::Update => State::Live {
                    version: change.version,
                    data: change.data,
                },
            }
        }

        /// What a reader sees: the data of a live entity, nothing otherwise.
        fn visible(self) -> Option<u32> {
            match self {
                State::Live { data, .. } => Some(data),
                _ => None,
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Queued {
        operation: Operation,
        version: u32,
        data: u32,
    }

    /// A user's action: put some data, or delete.
    #[derive(Debug, Clone, Copy)]
    enum Action {
        Put(u32),
        Delete,
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![(0u32..1000).prop_map(Action::Put), Just(Action::Delete)]
    }

    fn start() -> impl Strategy<Value = State> {
        prop_oneof![
            Just(State::Absent),
            (0u32..10, 0u32..1000).prop_map(|(version, data)| State::Live { version, data }),
            (0u32..10).prop_map(|version| State::Dead { version }),
        ]
    }

    /// Runs `actions` the way the client does: the operation follows the local state, each
    /// edit is newer than the last, and every change either merges into the queued one or
    /// (when `merge` is false) is queued on its own. Returns the replica's state and the
    /// queue.
    fn run(start: State, actions: &[Action], merge: bool) -> (State, Vec<Queued>) {
        let mut local = start;
        let first = start.version().unwrap_or(0) + 1;
        let mut queue: Vec<Queued> = Vec::new();
        // The replica's state before the first queued change.
        let mut base = start;
        for (version, action) in (first..).zip(actions) {
            let change = match *action {
                Action::Put(data) => Queued {
                    operation: if local.is_live() {
                        Operation::Update
                    } else {
                        Operation::Create
                    },
                    version,
                    data,
                },
                Action::Delete => Queued {
                    operation: Operation::Delete,
                    version,
                    data: 0,
                },
            };
            let before = local;
            local = local.apply(change);
            if merge && let Some(queued) = queue.last_mut() {
                match coalesce(queued.operation, change.operation) {
                    Some(operation) => {
                        *queued = Queued {
                            operation,
                            ..change
                        }
                    }
                    None => {
                        // Nothing is sent: the replica goes back to its state before.
                        queue.pop();
                        local = base;
                    }
                }
                continue;
            }
            if queue.is_empty() {
                base = before;
            }
            queue.push(change);
        }
        (local, queue)
    }

    proptest! {
        #[test]
        fn merged_changes_leave_the_server_as_the_unmerged_ones_would(
            start in start(),
            actions in proptest::collection::vec(action(), 1..12),
        ) {
            let (_, every) = run(start, &actions, false);
            let (local, merged) = run(start, &actions, true);
            prop_assert!(merged.len() <= 1, "one entity, one queued change: {merged:?}");
            let sequential = every.iter().fold(start, |state, change| state.apply(*change));
            let coalesced = merged.iter().fold(start, |state, change| state.apply(*change));
            prop_assert_eq!(sequential.visible(), coalesced.visible());
            prop_assert_eq!(coalesced.visible(), local.visible(), "the replica shows what the server will hold");
        }
    }

    #[test]
    fn the_table_of_the_module_docs() {
        use Operation::{Create, Delete, Update};
        assert_eq!(coalesce(Create, Update), Some(Create));
        assert_eq!(coalesce(Update, Update), Some(Update));
        assert_eq!(coalesce(Create, Delete), None);
        assert_eq!(coalesce(Update, Delete), Some(Delete));
        assert_eq!(coalesce(Delete, Delete), Some(Delete));
        assert_eq!(coalesce(Delete, Create), Some(Update));
        assert_eq!(coalesce(Delete, Update), Some(Update));
    }
}
