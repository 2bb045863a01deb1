//! `tenant create`, `tenant list`, `tenant use`.

use sync_core::TenantId;

use super::Context;
use crate::cli::error::{Error, Result};
use crate::cli::lookup::{self, Kind};
use crate::cli::table::Table;

const TENANT: Kind = Kind {
    what: "tenant",
    hint: ": see `finwise-cli tenant list`",
};

/// `tenant create NAME`.
pub(super) async fn create(context: &mut Context, name: &str) -> Result<()> {
    let user = context.profile.user()?.uuid.clone();
    let tenant = context.api()?.create_tenant(name, &user).await?;
    remember(context, &tenant.uuid, &tenant.name);
    context.profile.save()?;
    println!("created tenant {} ({})", tenant.name, tenant.uuid);
    if context.profile.saved.tenant.is_none() {
        eprintln!("use it with `finwise-cli tenant use {}`", tenant.uuid);
    }
    Ok(())
}

/// `tenant list`: the user's tenants from the server; `*` marks the current one.
pub(super) async fn list(context: &mut Context) -> Result<()> {
    let user = context.profile.user()?.uuid.clone();
    let tenants = context.api()?.tenants(&user).await?;
    for tenant in &tenants {
        remember(context, &tenant.uuid, &tenant.name);
    }
    context.profile.save()?;
    let current = context.profile.saved.tenant.as_deref();
    if context.json {
        let tenants: Vec<_> = tenants
            .iter()
            .map(|tenant| {
                serde_json::json!({
                    "id": tenant.uuid,
                    "name": tenant.name,
                    "current": current == Some(tenant.uuid.as_str()),
                })
            })
            .collect();
        super::print_json(&serde_json::Value::Array(tenants));
        return Ok(());
    }
    if tenants.is_empty() {
        eprintln!("no tenants yet: create one with `finwise-cli tenant create NAME`");
        return Ok(());
    }
    let mut table = Table::new(&["", "ID", "NAME"]);
    for tenant in &tenants {
        let mark = if current == Some(tenant.uuid.as_str()) {
            "*"
        } else {
            ""
        };
        table.row(vec![
            mark.to_owned(),
            tenant.uuid.clone(),
            tenant.name.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// `tenant use ID|NAME`: looked up on the server; offline, a tenant this profile knows
/// (by id or name), or else any valid id, unchecked.
pub(super) async fn select(context: &mut Context, query: &str) -> Result<()> {
    let user = context.profile.user()?.uuid.clone();
    let (id, name) = match context.api()?.tenants(&user).await {
        Ok(tenants) => {
            let tenant = lookup::find(&tenants, query, &TENANT, |t| &t.uuid, Some(|t| &t.name))?;
            (tenant.uuid.clone(), Some(tenant.name.clone()))
        }
        Err(Error::Unreachable { server, reason }) => {
            let known: Vec<(String, String)> = context
                .profile
                .saved
                .tenants
                .iter()
                .filter_map(|(id, tenant)| Some((id.clone(), tenant.name.clone()?)))
                .collect();
            match lookup::find(&known, query, &TENANT, |t| &t.0, Some(|t| &t.1)) {
                Ok((id, name)) => (id.clone(), Some(name.clone())),
                Err(Error::NotFound { .. }) => {
                    let id = TenantId::new(query.trim()).map_err(|_| {
                        Error::Usage(format!(
                            "cannot reach the server at {server} ({reason}) to look up {query:?}; offline only a tenant id is accepted"
                        ))
                    })?;
                    eprintln!(
                        "cannot reach the server ({reason}): using {id} as a tenant id, unchecked"
                    );
                    (id.to_string(), None)
                }
                Err(other) => return Err(other),
            }
        }
        Err(other) => return Err(other),
    };
    if let Some(name) = &name {
        remember(context, &id, name);
    }
    context.profile.saved.tenant = Some(id.clone());
    context.profile.save()?;
    println!("now using tenant {}", context.profile.tenant_label(&id));
    Ok(())
}

/// Keeps a tenant's name in the profile, for offline use and labels.
fn remember(context: &mut Context, id: &str, name: &str) {
    context
        .profile
        .saved
        .tenants
        .entry(id.to_owned())
        .or_default()
        .name = Some(name.to_owned());
}
