use sync_core::Syncable;

#[derive(Syncable)]
pub union Account {
    pub id: i64,
    pub number: f64,
}

fn main() {}
