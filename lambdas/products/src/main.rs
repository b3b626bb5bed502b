//! Seed 001's function: API Gateway (AWS_PROXY) invokes it for `GET /products`; it reads the
//! `products` table of its PostgreSQL database (RDS) over TLS, verifying the server's
//! certificate against the system trust store (`SSL_CERT_FILE`), and answers the rows as JSON.
//! On its first call it creates and seeds the table, as a small app would on first start.
//!
//! Settings (environment): `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`, `DB_PASSWORD`.

mod store;

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = store::Store::from_env()?;
    run(service_fn(|event| store.handle(event))).await
}
