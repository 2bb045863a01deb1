//! The test helper of partial sync's explain API: asserts whether a principal has a row,
//! and prints the server's reasons when it is not as expected.

use sync_core::engine::access::{Explanation, explain};
use sync_core::entity::Actor;
use sync_core::{Store, TenantId};

/// Asserts that `actor` may (`visible`) or may not see `entity`/`id` of `tenant` in
/// `store`, and returns the explanation. On a mismatch the panic shows, per stream, the
/// row's key, the filter, the membership row that allowed it and the role gate.
pub async fn assert_visible<S: Store>(
    store: &S,
    actor: &Actor,
    tenant: &TenantId,
    entity: &str,
    id: &str,
    visible: bool,
) -> Explanation {
    let explanation = explain(store, actor, tenant, entity, id)
        .await
        .expect("the store answers")
        .unwrap_or_else(|| panic!("{entity} is not a registered entity"));
    assert_eq!(
        explanation.visible(),
        visible,
        "{} should {}see {entity} {id}; the server says: {}",
        actor.subject(),
        if visible { "" } else { "not " },
        serde_json::to_string_pretty(&explanation).unwrap()
    );
    explanation
}
