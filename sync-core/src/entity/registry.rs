//! The registry: every entity an app syncs, by wire name and by collection.

use std::collections::HashMap;
use std::sync::Arc;

use super::handler::{Handler, Typed};
use super::rules::{Actor, Authorizer, ErasedRules, Rules, TypedRules};
use super::stream::Via;
use super::{Role, Syncable};
use crate::change::Change;
use crate::error::{Error, Result};
use crate::outcome::{Effect, Reason, Rejection};
use crate::tenant::TenantId;

/// The registered entities, and the app's [rules](super::rules) for their writes. Cheap to
/// clone; shared by stores, engine and client.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: Vec<Arc<dyn Handler>>,
    by_name: HashMap<String, usize>,
    by_collection: HashMap<&'static str, usize>,
    /// Per handler, its entity's rules.
    rules: Vec<Option<Arc<dyn ErasedRules>>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    /// Per membership entity (lowercase name), the hops of the streams keyed through it.
    memberships: HashMap<String, Vec<Via>>,
}

/// Collects entities for a [`Registry`]; [`build`](Self::build) checks them.
#[derive(Default)]
pub struct RegistryBuilder {
    handlers: Vec<Arc<dyn Handler>>,
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The handler of the entity named `entity_type`, ignoring ASCII case.
    pub fn get(&self, entity_type: &str) -> Option<&dyn Handler> {
        self.by_name
            .get(&entity_type.to_ascii_lowercase())
            .map(|&index| &*self.handlers[index])
    }

    /// The stream named `name`: its entity's handler and the stream's index in
    /// [`Handler::streams`].
    pub fn stream(&self, name: &str) -> Option<(&dyn Handler, usize)> {
        self.handlers.iter().find_map(|handler| {
            handler
                .streams()
                .iter()
                .position(|stream| stream.name == name)
                .map(|index| (&**handler, index))
        })
    }

    /// The membership hops that go through `entity`: a change of one of its rows changes
    /// what its member (old and new) may see.
    pub fn memberships(&self, entity: &str) -> &[Via] {
        self.memberships
            .get(&entity.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The entities a session of `role` may see only through streams: those with a stream
    /// keyed by the principal that binds the role ([`StreamSpec::binds`]).
    ///
    /// [`StreamSpec::binds`]: super::stream::StreamSpec::binds
    pub fn restricted_for(&self, role: Option<&str>) -> Vec<&'static str> {
        self.iter()
            .filter(|handler| handler.streams().iter().any(|stream| stream.binds(role)))
            .map(|handler| handler.entity())
            .collect()
    }

    /// The collections of the entities every role sees only through streams: a stream
    /// keyed by the principal that names no role in `whole`. They are no part of the
    /// tenant's whole: an initial load leaves them out.
    pub fn stream_only_collections(&self) -> Vec<&'static str> {
        self.iter()
            .filter(|handler| {
                handler
                    .streams()
                    .iter()
                    .any(|stream| stream.keys.restricts() && stream.whole.is_empty())
            })
            .map(|handler| handler.collection())
            .collect()
    }

    /// The handler of the entity whose collection is `collection`.
    pub fn by_collection(&self, collection: &str) -> Option<&dyn Handler> {
        self.by_collection
            .get(collection)
            .map(|&index| &*self.handlers[index])
    }

    /// Every handler, in registration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &dyn Handler> {
        self.handlers.iter().map(|handler| &**handler)
    }

    /// How many entities are registered.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no entity is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// The same registry with `rules` for the writes of `T`, replacing any it had. Errors
    /// when `T` is not registered.
    pub fn with_rules<T: Syncable>(mut self, rules: impl Rules<T>) -> Result<Registry> {
        let index = self
            .by_name
            .get(&T::ENTITY.to_ascii_lowercase())
            .copied()
            .filter(|&index| {
                let handler = &self.handlers[index];
                handler.table() == T::TABLE && handler.collection() == T::COLLECTION
            })
            .ok_or_else(|| Error::InvalidIdentifier {
                what: "entity with rules (not registered)".to_owned(),
                name: T::ENTITY.to_owned(),
            })?;
        self.rules.resize(self.handlers.len(), None);
        self.rules[index] = Some(Arc::new(TypedRules::<T, _>::new(rules)));
        Ok(self)
    }

    /// The same registry with `authorizer` deciding, before any entity's rules, who may
    /// write anything; it replaces any authorizer the registry had.
    pub fn with_authorizer(mut self, authorizer: impl Authorizer) -> Registry {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// Whether any rules or an authorizer are registered.
    pub fn has_rules(&self) -> bool {
        self.authorizer.is_some() || self.rules.iter().any(Option::is_some)
    }

    /// Whether the entity named `entity_type` has rules that hear of its commits.
    pub(crate) fn has_entity_rules(&self, entity_type: &str) -> bool {
        self.rules_of(entity_type).is_some()
    }

    fn rules_of(&self, entity_type: &str) -> Option<&Arc<dyn ErasedRules>> {
        let index = *self.by_name.get(&entity_type.to_ascii_lowercase())?;
        self.rules.get(index)?.as_ref()
    }

    /// The refusal of `change` by `actor` in `tenant`, if the authorizer or the entity's
    /// rules refuse it. A change of an unknown entity passes: the store refuses it.
    pub fn screen(&self, actor: &Actor, tenant: &TenantId, change: &Change) -> Option<Rejection> {
        if let Some(authorizer) = &self.authorizer
            && let Err(detail) = authorizer.authorize(actor, tenant, change)
        {
            return Some(Rejection::new(Reason::Forbidden, detail));
        }
        self.rules_of(&change.entity_type)?
            .screen(actor, tenant, change)
    }

    /// Tells the entity's rules of a committed state.
    pub(crate) fn committed(&self, tenant: &TenantId, effect: &Effect) {
        if let Some(rules) = self.rules_of(effect.entity_type) {
            rules.committed(tenant, effect);
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|handler| handler.entity()))
            .finish()
    }
}

impl RegistryBuilder {
    /// Registers `T`.
    pub fn entity<T: Syncable>(mut self) -> RegistryBuilder {
        self.handlers.push(Arc::new(Typed::<T>::new()));
        self
    }

    /// Registers every entity of `registry`, so a server and its clients can share one list.
    /// Its rules are not carried over: add them to the built registry.
    pub fn entities_of(mut self, registry: &Registry) -> RegistryBuilder {
        self.handlers.extend(registry.handlers.iter().cloned());
        self
    }

    /// Checks the entities: unique names, collections and tables, valid SQL names, and one
    /// id and one `updated_at` column each.
    pub fn build(self) -> Result<Registry> {
        let mut registry = Registry::default();
        let mut tables = HashMap::new();
        let mut streams = HashMap::new();
        for (index, handler) in self.handlers.into_iter().enumerate() {
            check_entity(&*handler)?;
            for stream in handler.streams() {
                check_stream(&*handler, stream)?;
                if streams.insert(stream.name, ()).is_some() {
                    return Err(Error::DuplicateEntity {
                        what: "stream name",
                        name: stream.name.to_owned(),
                    });
                }
            }
            let duplicate = |what: &'static str, name: &str| Error::DuplicateEntity {
                what,
                name: name.to_owned(),
            };
            if registry
                .by_name
                .insert(handler.entity().to_ascii_lowercase(), index)
                .is_some()
            {
                return Err(duplicate("entity name", handler.entity()));
            }
            if registry
                .by_collection
                .insert(handler.collection(), index)
                .is_some()
            {
                return Err(duplicate("collection", handler.collection()));
            }
            if tables.insert(handler.table(), index).is_some() {
                return Err(duplicate("table", handler.table()));
            }
            registry.handlers.push(handler);
        }
        for handler in &registry.handlers {
            for via in handler.streams().iter().filter_map(|stream| stream.via) {
                if registry.get(via.entity).is_none() {
                    return Err(Error::InvalidIdentifier {
                        what: format!(
                            "membership entity of a stream of {} (register it too)",
                            handler.entity()
                        ),
                        name: via.entity.to_owned(),
                    });
                }
                let vias = registry
                    .memberships
                    .entry(via.entity.to_ascii_lowercase())
                    .or_default();
                if !vias.contains(&via) {
                    vias.push(via);
                }
            }
        }
        Ok(registry)
    }
}

/// A stream partitions by an indexed column of its entity (the derive checks this at
/// compile time; a hand-written impl is checked here).
fn check_stream(handler: &dyn Handler, stream: &super::stream::StreamSpec) -> Result<()> {
    let indexed = handler
        .columns()
        .iter()
        .any(|column| column.name == stream.by && column.indexed);
    if !is_identifier(stream.name) || !indexed {
        return Err(Error::InvalidIdentifier {
            what: format!(
                "stream of {} (its name must be an identifier and it must partition by an \
                 #[sync(index)] column)",
                handler.entity()
            ),
            name: format!("{} by {}", stream.name, stream.by),
        });
    }
    Ok(())
}

fn check_entity(handler: &dyn Handler) -> Result<()> {
    let invalid = |what: String, name: &str| Error::InvalidIdentifier {
        what,
        name: name.to_owned(),
    };
    if handler.entity().is_empty() {
        return Err(invalid("entity name".to_owned(), handler.entity()));
    }
    if !is_identifier(handler.table()) {
        return Err(invalid(
            format!("table of {}", handler.entity()),
            handler.table(),
        ));
    }
    if handler.collection().is_empty() {
        return Err(invalid(
            format!("collection of {}", handler.entity()),
            handler.collection(),
        ));
    }
    // SQL compares column names without regard to case.
    let mut seen = HashMap::new();
    for column in handler.columns() {
        // The field versions of a field-merged entity: the store's own hidden column.
        let hidden = handler.merge().fields().is_some()
            && column.name == crate::merge::FIELD_VERSIONS_COLUMN;
        if !(is_identifier(column.name) || hidden)
            || seen.insert(column.name.to_ascii_lowercase(), ()).is_some()
        {
            return Err(invalid(
                format!("column of {}", handler.entity()),
                column.name,
            ));
        }
    }
    for role in [Role::Id, Role::UpdatedAt] {
        let count = handler
            .columns()
            .iter()
            .filter(|column| column.role == role)
            .count();
        if count != 1 {
            return Err(invalid(
                format!(
                    "{role:?} column of {} ({count} found, 1 needed)",
                    handler.entity()
                ),
                handler.table(),
            ));
        }
    }
    Ok(())
}

/// A name safe to quote in SQL: a letter or `_` then letters, digits and `_`, at most 63
/// bytes (PostgreSQL's limit), not in the `_sync` namespace the stores reserve.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 63
        && !name.to_ascii_lowercase().starts_with("_sync")
}
