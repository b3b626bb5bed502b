//! The database side: one TLS connection, kept while it lives, and the products query.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::{
    apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse},
    encodings::Body,
    http::{HeaderValue, header::CONTENT_TYPE},
};
use lambda_runtime::LambdaEvent;
use tokio::sync::Mutex;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long a connection attempt may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// The seed rows, written once.
const SEED: &str = "INSERT INTO products (id, name, price_cents) VALUES \
    (1, 'Widget', 1299), (2, 'Gadget', 2499), (3, 'Gizmo', 999) ON CONFLICT (id) DO NOTHING";

/// A setting the function needs is missing.
#[derive(Debug)]
pub(crate) struct MissingSetting(&'static str);

impl std::fmt::Display for MissingSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "environment variable {} is not set", self.0)
    }
}

impl std::error::Error for MissingSetting {}

/// The database the function reads, and its open connection.
pub(crate) struct Store {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    client: Mutex<Option<Client>>,
}

impl Store {
    /// Reads the settings; no connection yet.
    pub(crate) fn from_env() -> Result<Self, MissingSetting> {
        let var = |name| std::env::var(name).map_err(|_| MissingSetting(name));
        let mut config = tokio_postgres::Config::new();
        config
            .host(var("DB_HOST")?)
            .port(
                var("DB_PORT")?
                    .parse()
                    .map_err(|_| MissingSetting("DB_PORT"))?,
            )
            .dbname(var("DB_NAME")?)
            .user(var("DB_USER")?)
            .password(var("DB_PASSWORD")?)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(CONNECT_LIMIT);
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(tls_config()),
            client: Mutex::new(None),
        })
    }

    /// Answers `GET /products` with the rows, as JSON.
    pub(crate) async fn handle(
        &self,
        _event: LambdaEvent<ApiGatewayProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, lambda_runtime::Error> {
        let rows = self.products().await?;
        tracing::info!(rows = rows.len(), "answered /products");
        let mut response = ApiGatewayProxyResponse::default();
        response.status_code = 200;
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.body = Some(Body::Text(serde_json::Value::Array(rows).to_string()));
        Ok(response)
    }

    async fn products(&self) -> Result<Vec<serde_json::Value>, tokio_postgres::Error> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = self.config.connect(self.tls.clone()).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("database connection ended: {e}");
                }
            });
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS products (id integer PRIMARY KEY, \
                     name text NOT NULL, price_cents integer NOT NULL)",
                )
                .await?;
            client.batch_execute(SEED).await?;
            *guard = Some(client);
        }
        let client = guard.as_ref().expect("connected above");
        let rows = client
            .query(
                "SELECT id, name, price_cents FROM products ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "id": row.get::<_, i32>(0),
                    "name": row.get::<_, String>(1),
                    "price_cents": row.get::<_, i32>(2),
                })
            })
            .collect())
    }
}

/// rustls with the system's trust store (`SSL_CERT_FILE` when set).
fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}
