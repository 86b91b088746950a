//! The state table: creation in the original Generation B layout.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::aws::dynamodb::{self, DdbErrorKind};
use crate::aws::Aws;

/// Create the table in the original Generation B layout, and wait until it is ACTIVE.
pub async fn create(aws: &Aws, table: &str) -> Result<()> {
    if let Err(e) = dynamodb::create_state_table(aws, table).await? {
        if !e.is(DdbErrorKind::TableExists) {
            return Err(e.failed(format!("creating DynamoDB table {table}")));
        }
    }
    for _ in 0..600 {
        let active = dynamodb::table_active(aws, table)
            .await
            .map_err(|e| e.failed(format!("describing DynamoDB table {table}")))?;
        if active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "DynamoDB table {table} did not become ACTIVE within 60 s"
    ))
    .context("creating the state table")
}
