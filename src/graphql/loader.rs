//! Data loaders: every relation of the graph is read through one of these, so
//! a nested query costs a number of statements bounded by its depth, not by
//! its rows. A key carries everything the statement depends on (the list, its
//! filter, sort and page, and the scope of the caller the loader was made for);
//! keys that differ only by their parent are answered by one statement.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::ErrorExtensions as _;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object, OutputType};
use sea_orm::sea_query::Condition;
use sea_orm::{DatabaseConnection, EntityTrait, FromQueryResult};

use super::context::ContextExt as _;
use super::idle::Idle;
use super::page::{Page, PageArgs, Parent, SortKey, Window};
use crate::auth::ProjectScope;
use crate::error::Error;
use crate::service::page::{self, Listing};
use crate::service::read::by_id::{self, Visible};

pub(crate) use super::page::BaseFn;

/// One list shape: everything but the parent.
pub(crate) struct ListSpec {
    /// Identifies the shape: the relation and every argument.
    key: String,
    tag: &'static str,
    base: BaseFn,
    filter: Condition,
    sort: Vec<SortKey>,
    window: Window,
}

impl ListSpec {
    /// A list of `tag` items built by `base`, filtered, sorted and paged.
    ///
    /// `relation` names the edge (e.g. `Project.jobs`) and `arguments` renders
    /// every argument that changes the statement, so equal keys mean equal SQL.
    ///
    /// # Errors
    /// Bad pagination arguments.
    pub(crate) fn new(
        relation: &str,
        arguments: &str,
        tag: &'static str,
        base: BaseFn,
        filter: Condition,
        sort: Vec<SortKey>,
        page: &PageArgs,
    ) -> async_graphql::Result<Arc<Self>> {
        let window = page.window(tag, &sort)?;
        Ok(Arc::new(Self {
            key: format!("{relation}|{arguments}|{}", page.key()),
            tag,
            base,
            filter,
            sort,
            window,
        }))
    }

    fn listing(&self) -> Listing {
        Listing {
            tag: self.tag,
            base: Arc::clone(&self.base),
            filter: self.filter.clone(),
            sort: self.sort.clone(),
        }
    }
}

/// A page of one parent's list of `M`.
pub(crate) struct PageKey<M> {
    spec: Arc<ListSpec>,
    parent: Parent,
    model: PhantomData<fn() -> M>,
}

/// The item count of one parent's list.
#[derive(Clone)]
pub(crate) struct CountKey {
    spec: Arc<ListSpec>,
    parent: Parent,
}

impl<M> Clone for PageKey<M> {
    fn clone(&self) -> Self {
        Self {
            spec: Arc::clone(&self.spec),
            parent: self.parent,
            model: PhantomData,
        }
    }
}
impl<M> PartialEq for PageKey<M> {
    fn eq(&self, other: &Self) -> bool {
        self.parent == other.parent && self.spec.key == other.spec.key
    }
}
impl<M> Eq for PageKey<M> {}
impl<M> Hash for PageKey<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parent.hash(state);
        self.spec.key.hash(state);
    }
}
impl PartialEq for CountKey {
    fn eq(&self, other: &Self) -> bool {
        self.parent == other.parent && self.spec.key == other.spec.key
    }
}
impl Eq for CountKey {}
impl Hash for CountKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parent.hash(state);
        self.spec.key.hash(state);
    }
}

/// Groups keys by their list shape.
fn by_spec<K>(
    keys: &[K],
    spec: impl Fn(&K) -> (&Arc<ListSpec>, Parent),
) -> Vec<(Arc<ListSpec>, Vec<Parent>)> {
    let mut groups: Vec<(Arc<ListSpec>, Vec<Parent>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for key in keys {
        let (list, parent) = spec(key);
        let at = *index.entry(list.key.clone()).or_insert_with(|| {
            groups.push((Arc::clone(list), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(parent);
    }
    groups
}

/// Reads the graph's relations for one request, as one caller.
pub(crate) struct Db {
    /// The database.
    pub(crate) db: DatabaseConnection,
    /// The projects the caller may see.
    pub(crate) scope: ProjectScope,
}

/// The request's loaders. A batch leaves once the request has stopped asking
/// for keys ([`Idle::batch`]), so the keys of one level of a query share
/// one statement however many rows the level above returned, on any runtime.
pub(crate) struct Loaders {
    inner: DataLoader<Db>,
}

impl Loaders {
    /// Loads the value of `key` (batched with the other keys of its kind).
    ///
    /// # Errors
    /// The loader's error.
    pub(crate) async fn load_one<K>(
        &self,
        key: K,
    ) -> Result<Option<<Db as Loader<K>>::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Db: Loader<K, Error = async_graphql::Error>,
    {
        self.inner.load_one(key).await
    }
}

/// Loaders for `db`, reading as a caller who sees `scope`, for the request
/// that `idle` watches.
///
/// async-graphql's own delay (a timer before a batch takes its keys) is zero:
/// waiting for the request to settle replaces it, and a timer cannot know
/// when the resolvers of a level have all run.
pub(crate) fn loaders(db: DatabaseConnection, scope: ProjectScope, idle: Idle) -> Loaders {
    let inner = DataLoader::new(Db { db, scope }, move |batch| {
        let idle = idle.clone();
        tokio::spawn(async move { idle.batch(batch).await })
    })
    .delay(std::time::Duration::ZERO);
    Loaders { inner }
}

impl<M> Loader<PageKey<M>> for Db
where
    M: FromQueryResult + Clone + Send + Sync + 'static,
{
    type Value = Page<M>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PageKey<M>],
    ) -> Result<HashMap<PageKey<M>, Page<M>>, async_graphql::Error> {
        let mut answer = HashMap::new();
        for (spec, parents) in by_spec(keys, |k| (&k.spec, k.parent)) {
            let mut pages = page::fetch::<M>(&self.db, &spec.listing(), &spec.window, &parents)
                .await
                .map_err(|e| e.extend())?;
            for parent in parents {
                let found = pages.remove(&parent).unwrap_or_else(Page::empty);
                answer.insert(
                    PageKey {
                        spec: Arc::clone(&spec),
                        parent,
                        model: PhantomData,
                    },
                    found,
                );
            }
        }
        Ok(answer)
    }
}

impl Loader<CountKey> for Db {
    type Value = u64;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CountKey],
    ) -> Result<HashMap<CountKey, u64>, async_graphql::Error> {
        let mut answer = HashMap::new();
        for (spec, parents) in by_spec(keys, |k| (&k.spec, k.parent)) {
            let counts = page::count(&self.db, &spec.listing(), &parents)
                .await
                .map_err(|e| e.extend())?;
            for parent in parents {
                let n = counts.get(&parent).copied().unwrap_or(0);
                answer.insert(
                    CountKey {
                        spec: Arc::clone(&spec),
                        parent,
                    },
                    n,
                );
            }
        }
        Ok(answer)
    }
}

/// The row of entity `E` with this id, if the loader's caller may see it (the
/// scope is a condition of the statement: [`by_id::load`]).
pub(crate) struct ById<E: EntityTrait>(pub(crate) i64, PhantomData<fn() -> E>);

impl<E: EntityTrait> ById<E> {
    /// The row `id`.
    pub(crate) fn new(id: i64) -> Self {
        Self(id, PhantomData)
    }
}

impl<E: EntityTrait> Clone for ById<E> {
    fn clone(&self) -> Self {
        Self::new(self.0)
    }
}
impl<E: EntityTrait> PartialEq for ById<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<E: EntityTrait> Eq for ById<E> {}
impl<E: EntityTrait> Hash for ById<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// The fields of every connection besides its edges.
pub(crate) struct Counted {
    key: CountKey,
}

/// The fields of every connection besides its edges.
#[Object(name = "ListInfo")]
impl Counted {
    /// How many items the list holds in all, filter applied (computed only
    /// when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let loaders = &ctx.request()?.loaders;
        Ok(loaders.load_one(self.key.clone()).await?.unwrap_or(0))
    }
}

/// A Relay connection of `T` made from rows of `M`.
pub(crate) type Conn<T> = Connection<String, T, Counted, EmptyFields>;

/// Loads the page of `parent` (an id and the project it was reached through,
/// 0 for none) in the list `spec` and wraps its rows.
///
/// # Errors
/// A database error.
pub(crate) async fn connection<M, T>(
    ctx: &Context<'_>,
    spec: Arc<ListSpec>,
    parent: Parent,
    wrap: impl Fn(M) -> T,
) -> async_graphql::Result<Conn<T>>
where
    M: FromQueryResult + Clone + Send + Sync + 'static,
    T: OutputType,
{
    let loaders = &ctx.request()?.loaders;
    let key = PageKey::<M> {
        spec: Arc::clone(&spec),
        parent,
        model: PhantomData,
    };
    let page = loaders.load_one(key).await?.unwrap_or_else(Page::empty);
    let mut connection = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        Counted {
            key: CountKey { spec, parent },
        },
    );
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, row)| Edge::new(cursor, wrap(row))),
    );
    Ok(connection)
}

/// `Error` into a GraphQL error.
pub(crate) fn gql(error: Error) -> async_graphql::Error {
    error.extend()
}

impl<E> Loader<ById<E>> for Db
where
    E: Visible,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ById<E>],
    ) -> Result<HashMap<ById<E>, E::Model>, async_graphql::Error> {
        let rows = by_id::load::<E>(&self.db, &self.scope, keys.iter().map(|k| k.0))
            .await
            .map_err(gql)?;
        Ok(rows
            .into_iter()
            .map(|(id, row)| (ById::new(id), row))
            .collect())
    }
}
