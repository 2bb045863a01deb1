//! `#[sync(stream(name = "...", by = field, filter = path, role = "..."))]` on the struct:
//! one declared stream of partial sync. Repeatable. A stream keyed by the principal adds
//! `keys = principal` (or `both`), `via = Membership.key_field, member = field`, and may
//! name the roles it does not bind: `whole = ["owner", "editor"]`.

use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, Ident, Lit, LitStr, Meta, Path, Token};

use super::Item;
use crate::ctxt::Ctxt;

/// The correct form, for hints.
pub(crate) const EXAMPLE: &str = "#[sync(stream(name = \"by_account\", by = account_id, filter = is_visible, role = \"viewer\"))]";

/// Where a stream's keys come from: `keys = params`, `principal` or `both`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeysFrom {
    Params,
    Principal,
    Both,
}

/// `via = Membership.key_field, member = subject_field`: the one hop from the principal.
pub(crate) struct ViaAttr {
    /// The membership struct.
    pub(crate) entity: Ident,
    /// Its field holding an allowed key.
    pub(crate) key: Ident,
    /// Its field holding the principal's subject.
    pub(crate) member: Ident,
}

/// One `stream(...)`, with the spans of what it names.
pub(crate) struct StreamAttr {
    /// `name = "..."`.
    pub(crate) name: LitStr,
    /// `by = field`: the partition field.
    pub(crate) by: Ident,
    /// `filter = path`: a `fn(&Self) -> bool`.
    pub(crate) filter: Option<Path>,
    /// `role = "..."`: the least role.
    pub(crate) role: Option<LitStr>,
    /// `keys = ...`, with its span.
    pub(crate) keys: (KeysFrom, proc_macro2::Span),
    /// `via` and `member`, for keys of the principal.
    pub(crate) via: Option<ViaAttr>,
    /// `whole = ["role", ...]`: the roles the memberships do not bind.
    pub(crate) whole: Vec<LitStr>,
}

/// Reads one `stream(...)` item, reporting every mistake; `None` if it cannot be used.
pub(crate) fn read(cx: &Ctxt, item: &Item) -> Option<StreamAttr> {
    let Meta::List(list) = &item.meta else {
        cx.error_spanned_by(
            &item.meta,
            format!("`stream` takes a list, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(metas) => metas,
        Err(error) => {
            cx.push(syn::Error::new(
                error.span(),
                format!("{error}; the correct form is e.g. `{EXAMPLE}`"),
            ));
            return None;
        }
    };
    let (mut name, mut by, mut filter, mut role) = (None, None, None, None);
    let mut keys = (KeysFrom::Params, list.span());
    let (mut via, mut member): (Option<(Ident, Ident, &Expr)>, Option<Ident>) = (None, None);
    let mut whole: Option<(Vec<LitStr>, &Expr)> = None;
    // A `via` or `member` that was reported: no second error about its absence.
    let mut hop_unread = false;
    let mut complete = true;
    for meta in &metas {
        let key = meta.path().get_ident().map(ToString::to_string);
        let value = match meta {
            Meta::NameValue(value) => &value.value,
            _ => {
                cx.error_spanned_by(
                    meta,
                    format!("expected `key = value` inside `stream(...)`, e.g. `{EXAMPLE}`"),
                );
                complete = false;
                continue;
            }
        };
        match key.as_deref() {
            Some("name") => name = string(cx, value, "name", &mut complete),
            Some("role") => role = string(cx, value, "role", &mut complete),
            Some("by") => match path(value).and_then(|path| path.get_ident().cloned()) {
                Some(ident) => by = Some(ident),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`by` names the partition field itself, e.g. `by = account_id`; a stream \
                         partitions by a column of its own entity, with no hop through another",
                    );
                    complete = false;
                }
            },
            Some("keys") => match path(value)
                .and_then(Path::get_ident)
                .map(ToString::to_string)
                .as_deref()
            {
                Some("params") => keys = (KeysFrom::Params, value.span()),
                Some("principal") => keys = (KeysFrom::Principal, value.span()),
                Some("both") => keys = (KeysFrom::Both, value.span()),
                _ => {
                    cx.error_spanned_by(
                        value,
                        "`keys` is `params` (the client chooses), `principal` (the principal's \
                         memberships give them) or `both` (the client's, intersected)",
                    );
                    complete = false;
                }
            },
            Some("via") => match one_hop(value) {
                Ok((entity, key)) => via = Some((entity, key, value)),
                Err(message) => {
                    cx.error_spanned_by(value, message);
                    complete = false;
                    hop_unread = true;
                }
            },
            Some("member") => match path(value).and_then(Path::get_ident) {
                Some(ident) => member = Some(ident.clone()),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`member` names the membership's field that holds the principal, e.g. \
                         `member = user_id`",
                    );
                    complete = false;
                    hop_unread = true;
                }
            },
            Some("whole") => match roles(value) {
                Some(roles) => whole = Some((roles, value)),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`whole` lists the roles whose sessions receive the entity whole, \
                         e.g. `whole = [\"owner\", \"editor\"]`",
                    );
                    complete = false;
                }
            },
            Some("filter") => match path(value) {
                Some(path) => filter = Some(path.clone()),
                None => {
                    cx.error_spanned_by(
                        value,
                        "`filter` names a function `fn(&Self) -> bool` that reads only the row, \
                         e.g. `filter = is_visible`; closures and expressions are not allowed",
                    );
                    complete = false;
                }
            },
            _ => {
                cx.error_spanned_by(
                    meta.path(),
                    format!(
                        "unknown stream attribute; expected `name`, `by`, `filter`, `role`, \
                         `keys`, `via`, `member` or `whole`, e.g. `{EXAMPLE}`"
                    ),
                );
                complete = false;
            }
        }
    }
    let Some(by) = by else {
        cx.error_at(
            list.span(),
            format!("a stream needs its partition field: `by = ...`, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    let Some(name) = name else {
        cx.error_at(
            list.span(),
            format!("a stream needs a name: `name = \"...\"`, e.g. `{EXAMPLE}`"),
        );
        return None;
    };
    if hop_unread {
        return None;
    }
    if let (KeysFrom::Params, Some((_, value))) = (keys.0, &whole) {
        cx.error_spanned_by(
            value,
            "`whole` names roles that memberships do not bind; a stream of client-chosen keys \
             binds none: write `keys = principal` or `keys = both` with it",
        );
        return None;
    }
    let via = match (keys.0, via, member) {
        (KeysFrom::Params, None, None) => None,
        (KeysFrom::Params, Some((_, _, value)), _) => {
            cx.error_spanned_by(
                value,
                "`via` ties keys to the principal: write `keys = principal` or `keys = both` with it",
            );
            return None;
        }
        (KeysFrom::Params, None, Some(member)) => {
            cx.error_spanned_by(
                &member,
                "`member` goes with `via` and `keys = principal` or `both`",
            );
            return None;
        }
        (_, Some((entity, key, _)), Some(member)) => Some(ViaAttr {
            entity,
            key,
            member,
        }),
        (_, None, _) => {
            cx.error_at(
                keys.1,
                "keys of the principal come through a membership entity: add \
                 `via = Membership.key_field, member = principal_field`",
            );
            return None;
        }
        (_, Some((_, _, value)), None) => {
            cx.error_spanned_by(
                value,
                "add `member = field`: the membership's field that holds the principal",
            );
            return None;
        }
    };
    complete.then_some(StreamAttr {
        name,
        by,
        filter,
        role,
        keys,
        via,
        whole: whole.map(|(roles, _)| roles).unwrap_or_default(),
    })
}

/// `"role"` or `["role", ...]`: non-empty strings, at least one.
fn roles(value: &Expr) -> Option<Vec<LitStr>> {
    let one = |value: &Expr| match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if !lit.value().is_empty() => Some(lit.clone()),
        _ => None,
    };
    match value {
        Expr::Array(array) if !array.elems.is_empty() => array.elems.iter().map(one).collect(),
        other => one(other).map(|role| vec![role]),
    }
}

/// `Membership.field`: exactly one hop.
fn one_hop(value: &Expr) -> Result<(Ident, Ident), &'static str> {
    let Expr::Field(access) = value else {
        return Err(
            "`via` names a membership entity and its key field, e.g. `via = AccountMember.account_id`",
        );
    };
    let syn::Member::Named(key) = &access.member else {
        return Err("`via` names a field by name, e.g. `via = AccountMember.account_id`");
    };
    match &*access.base {
        Expr::Path(ExprPath {
            path, qself: None, ..
        }) => match path.get_ident() {
            Some(entity) => Ok((entity.clone(), key.clone())),
            None => Err(
                "`via` names the membership struct by its name in scope, e.g. `via = AccountMember.account_id`",
            ),
        },
        Expr::Field(_) => Err(
            "a stream's keys go at most one hop from the principal: `via = Membership.key_field`; a second hop (`A.b.c`) is not allowed, as its cost could not be bounded by the declaration",
        ),
        _ => Err(
            "`via` names a membership entity and its key field, e.g. `via = AccountMember.account_id`",
        ),
    }
}

fn path(value: &Expr) -> Option<&Path> {
    match value {
        Expr::Path(ExprPath {
            path, qself: None, ..
        }) => Some(path),
        _ => None,
    }
}

fn string(cx: &Ctxt, value: &Expr, key: &str, complete: &mut bool) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if !lit.value().is_empty() => Some(lit.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{key}` takes a non-empty string, e.g. `{EXAMPLE}`"),
            );
            *complete = false;
            None
        }
    }
}
