//! DynamoDB calls on the state table (environment items, their leases, stored profiles, the
//! table itself). Each returns the items it read, or a [`DdbError`] whose [`DdbErrorKind`] says
//! which of the outcomes the engine branches on it was (told apart by [`super::error`]'s
//! classification of the error code, never by message text).

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TableStatus,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{describe, error_code, kind, Aws, AwsErrorKind};

/// One DynamoDB item (attribute name → value).
pub type Item = HashMap<String, AttributeValue>;

/// The outcomes of a failed DynamoDB call that the engine branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdbErrorKind {
    /// `ConditionalCheckFailedException`: the write's condition did not hold.
    ConditionFailed,
    /// `ResourceNotFoundException`: the table does not exist.
    TableMissing,
    /// `ResourceInUseException`: (CreateTable) the table exists already.
    TableExists,
    /// Anything else (see the description).
    Other,
}

/// A failed DynamoDB call: its kind, the item as it was when a condition failed (when the
/// request asked for it), and the one-line description (code and message) for people.
#[derive(Debug, Clone)]
pub struct DdbError {
    pub kind: DdbErrorKind,
    /// With [`DdbErrorKind::ConditionFailed`]: the item at the time (ALL_OLD on failure).
    pub item: Option<Item>,
    description: String,
    /// The same failure as every other AWS call's (operation, kind, transient).
    pub aws: super::AwsError,
}

impl fmt::Display for DdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl std::error::Error for DdbError {}

impl DdbError {
    fn new<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        e: &SdkError<E, HttpResponse>,
        item: Option<Item>,
    ) -> DdbError {
        // classified by src/aws/error.rs; DynamoDB's own CreateTable code compared here only
        let kind = match (kind(e), error_code(e)) {
            (AwsErrorKind::PreconditionFailed, _) => DdbErrorKind::ConditionFailed,
            (AwsErrorKind::NotFound, _) => DdbErrorKind::TableMissing,
            (_, Some("ResourceInUseException")) => DdbErrorKind::TableExists,
            _ => DdbErrorKind::Other,
        };
        DdbError {
            kind,
            item,
            description: describe(e),
            aws: super::AwsError::new(operation, operation, e),
        }
    }

    /// An UpdateItem failure, keeping the item a failed condition returned (typed variant).
    fn update(e: SdkError<UpdateItemError, HttpResponse>) -> DdbError {
        let item = match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item.clone(),
            _ => None,
        };
        DdbError::new("dynamodb:UpdateItem", &e, item)
    }

    /// This failure as a typed AWS error told in the caller's words: "`what` failed: …".
    pub fn failed(&self, what: impl Into<String>) -> anyhow::Error {
        let mut aws = self.aws.clone();
        aws.what = what.into();
        aws.into()
    }

    pub fn is(&self, kind: DdbErrorKind) -> bool {
        self.kind == kind
    }
}

/// GetItem; `consistent` asks for a strongly consistent read.
pub async fn get(
    aws: &Aws,
    table: &str,
    key: Item,
    consistent: bool,
) -> Result<Option<Item>, DdbError> {
    aws.dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .set_consistent_read(consistent.then_some(true))
        .send()
        .await
        .map(|o| o.item)
        .map_err(|e| DdbError::new("dynamodb:GetItem", &e, None))
}

/// PutItem, unconditional.
pub async fn put(aws: &Aws, table: &str, item: Item) -> Result<(), DdbError> {
    aws.dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DdbError::new("dynamodb:PutItem", &e, None))
}

/// DeleteItem, unconditional; returns the item that was there (ALL_OLD) when `return_old`.
pub async fn delete(
    aws: &Aws,
    table: &str,
    key: Item,
    return_old: bool,
) -> Result<Option<Item>, DdbError> {
    aws.dynamodb
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .set_return_values(return_old.then_some(ReturnValue::AllOld))
        .send()
        .await
        .map(|o| o.attributes)
        .map_err(|e| DdbError::new("dynamodb:DeleteItem", &e, None))
}

/// One page of items: a Query on the partition key `type` (`Some`), or a Scan (`None`).
pub async fn page(
    aws: &Aws,
    table: &str,
    partition: Option<&str>,
    start: Option<Item>,
) -> Result<(Vec<Item>, Option<Item>), DdbError> {
    match partition {
        Some(p) => aws
            .dynamodb
            .query()
            .table_name(table)
            .key_condition_expression("#t = :p")
            .expression_attribute_names("#t", "type")
            .expression_attribute_values(":p", AttributeValue::S(p.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map(|o| (o.items.unwrap_or_default(), o.last_evaluated_key))
            .map_err(|e| DdbError::new("dynamodb:Query", &e, None)),
        None => aws
            .dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map(|o| (o.items.unwrap_or_default(), o.last_evaluated_key))
            .map_err(|e| DdbError::new("dynamodb:Scan", &e, None)),
    }
}

/// Set `metadata.<field>` on an item that has a `metadata` map (ConditionFailed otherwise).
pub async fn set_metadata_field(
    aws: &Aws,
    table: &str,
    key: Item,
    field: &str,
    value: &str,
) -> Result<(), DdbError> {
    aws.dynamodb
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET #m.#f = :v")
        .condition_expression("attribute_exists(#m)")
        .expression_attribute_names("#m", "metadata")
        .expression_attribute_names("#f", field)
        .expression_attribute_values(":v", AttributeValue::S(value.to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(DdbError::update)
}

/// Whose lease a taker may replace besides a free one (none held).
#[derive(Debug, Clone, Copy)]
pub enum TakeOver<'a> {
    /// Only a free lease.
    Nobody,
    /// A lease still carrying this record version number.
    Rvn(&'a str),
    /// A lease of this owner written without a record version (an eden without heartbeats).
    OwnerWithoutRvn(&'a str),
}

/// A lease to write on an item.
#[derive(Debug, Clone, Copy)]
pub struct TakeLease<'a> {
    pub owner: &'a str,
    pub rvn: &'a str,
    pub duration_ms: u128,
    /// Epoch seconds.
    pub now: f64,
    /// `kind` of the item when it is new.
    pub kind: &'a str,
    pub take_over: TakeOver<'a>,
}

/// Take a lease in one conditional UpdateItem that returns the item as it was (ALL_OLD, also
/// when the condition fails: the holder is in the error's `item`).
pub async fn take_lease(
    aws: &Aws,
    table: &str,
    key: Item,
    t: TakeLease<'_>,
) -> Result<Option<Item>, DdbError> {
    let q = aws
        .dynamodb
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(
            "SET lease_owner = :me, lease_rvn = :rvn, lease_duration_ms = :d, lease_since = :now, lease_renewed = :now, #k = if_not_exists(#k, :kind) REMOVE lease_expires",
        )
        .expression_attribute_names("#k", "kind")
        .expression_attribute_values(":me", AttributeValue::S(t.owner.to_string()))
        .expression_attribute_values(":rvn", AttributeValue::S(t.rvn.to_string()))
        .expression_attribute_values(":d", AttributeValue::N(t.duration_ms.to_string()))
        .expression_attribute_values(":now", AttributeValue::N(format!("{:.3}", t.now)))
        .expression_attribute_values(":kind", AttributeValue::S(t.kind.to_string()))
        .return_values(ReturnValue::AllOld)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    let q = match t.take_over {
        TakeOver::Nobody => q.condition_expression("attribute_not_exists(lease_owner)"),
        TakeOver::Rvn(seen) => q
            .condition_expression("attribute_not_exists(lease_owner) OR lease_rvn = :seen")
            .expression_attribute_values(":seen", AttributeValue::S(seen.to_string())),
        TakeOver::OwnerWithoutRvn(seen) => q
            .condition_expression(
                "attribute_not_exists(lease_owner) OR (lease_owner = :seen AND attribute_not_exists(lease_rvn))",
            )
            .expression_attribute_values(":seen", AttributeValue::S(seen.to_string())),
    };
    q.send()
        .await
        .map(|o| o.attributes)
        .map_err(DdbError::update)
}

/// Renew `owner`'s lease with a new record version. Conditioned on ownership only (not the
/// previous version): a renewal whose answer was lost must not make the next one fail. On
/// ConditionFailed the error's `item` is the item as it is now.
pub async fn renew_lease(
    aws: &Aws,
    table: &str,
    key: Item,
    owner: &str,
    rvn: &str,
    now: f64,
) -> Result<(), DdbError> {
    aws.dynamodb
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET lease_rvn = :rvn, lease_renewed = :now")
        .condition_expression("lease_owner = :me")
        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
        .expression_attribute_values(":rvn", AttributeValue::S(rvn.to_string()))
        .expression_attribute_values(":now", AttributeValue::N(format!("{now:.3}")))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map(|_| ())
        .map_err(DdbError::update)
}

/// Remove the lease `attributes` from an item, if `owner` holds it.
pub async fn remove_lease(
    aws: &Aws,
    table: &str,
    key: Item,
    owner: &str,
    attributes: &[&str],
) -> Result<(), DdbError> {
    aws.dynamodb
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(format!("REMOVE {}", attributes.join(", ")))
        .condition_expression("lease_owner = :me")
        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(DdbError::update)
}

/// Replace an item, if `owner` holds its lease (the new item carries no lease: released).
pub async fn put_owned(aws: &Aws, table: &str, item: Item, owner: &str) -> Result<(), DdbError> {
    aws.dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("lease_owner = :me")
        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DdbError::new("dynamodb:PutItem", &e, None))
}

/// Set `set` and remove `remove` on an item, if `owner` holds its lease (the lease stays).
pub async fn update_owned(
    aws: &Aws,
    table: &str,
    key: Item,
    owner: &str,
    set: Vec<(&str, AttributeValue)>,
    remove: &[&str],
) -> Result<(), DdbError> {
    let mut q = aws
        .dynamodb
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("lease_owner = :me")
        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()));
    let mut sets = Vec::new();
    for (i, (name, value)) in set.into_iter().enumerate() {
        sets.push(format!("#s{i} = :s{i}"));
        q = q
            .expression_attribute_names(format!("#s{i}"), name)
            .expression_attribute_values(format!(":s{i}"), value);
    }
    let mut removes = Vec::new();
    for (i, name) in remove.iter().enumerate() {
        removes.push(format!("#r{i}"));
        q = q.expression_attribute_names(format!("#r{i}"), *name);
    }
    let mut expr = String::new();
    if !sets.is_empty() {
        expr.push_str(&format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    q.update_expression(expr.trim())
        .send()
        .await
        .map(|_| ())
        .map_err(DdbError::update)
}

/// Delete an item, if `owner` holds its lease.
pub async fn delete_owned(aws: &Aws, table: &str, key: Item, owner: &str) -> Result<(), DdbError> {
    aws.dynamodb
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("lease_owner = :me")
        .expression_attribute_values(":me", AttributeValue::S(owner.to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DdbError::new("dynamodb:DeleteItem", &e, None))
}

/// CreateTable in the original Generation B layout: key (`type`, `name`), the GSI
/// `kind_last_updated_gsi` (`kind`, `last_updated`), on demand.
pub async fn create_state_table(aws: &Aws, table: &str) -> anyhow::Result<Result<(), DdbError>> {
    let attr = |n: &str, t| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
    };
    let ks = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    Ok(aws
        .dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("type", ScalarAttributeType::S)?)
        .attribute_definitions(attr("name", ScalarAttributeType::S)?)
        .attribute_definitions(attr("kind", ScalarAttributeType::S)?)
        .attribute_definitions(attr("last_updated", ScalarAttributeType::N)?)
        .key_schema(ks("type", KeyType::Hash)?)
        .key_schema(ks("name", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("kind_last_updated_gsi")
                .key_schema(ks("kind", KeyType::Hash)?)
                .key_schema(ks("last_updated", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DdbError::new("dynamodb:CreateTable", &e, None)))
}

/// DescribeTable: is the table ACTIVE?
pub async fn table_active(aws: &Aws, table: &str) -> Result<bool, DdbError> {
    let out = aws
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| DdbError::new("dynamodb:DescribeTable", &e, None))?;
    Ok(out.table.and_then(|t| t.table_status) == Some(TableStatus::Active))
}
