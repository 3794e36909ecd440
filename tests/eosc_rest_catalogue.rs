//! EOSC REST: the catalogue routes (metric definitions, unit types, metric
//! types, providers) over HTTP: upstream's messages and codes (eosc.md §1.1,
//! §4), the collection permissions of §5, pagination (§3), and each response
//! shape pinned by an `insta` snapshot (the random port redacted).

use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{installations, metrics, project_providers, providers};

use crate::helpers::TestApp;
use crate::helpers::world;

const BASE: &str = "/accounting-system";

struct Client<'a> {
    app: &'a TestApp,
    token: String,
}

/// Status and body (the app's address redacted).
struct Answer {
    status: u16,
    body: String,
    location: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Asserts the status and upstream's error body with `message`.
    #[track_caller]
    fn fails(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.json(),
            json!({"code": status, "message": message}),
            "{}",
            self.body
        );
    }
}

impl Client<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("{BASE}{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| {
            v.to_str()
                .unwrap()
                .replace(&self.app.addr.to_string(), "[host]")
        });
        let body = response
            .text()
            .await
            .unwrap()
            .replace(&self.app.addr.to_string(), "[host]");
        Answer {
            status,
            body,
            location,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(&body)).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// `path` with a raw body and content type.
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Answer {
        let response = self
            .app
            .client
            .request(method, self.app.url(&format!("{BASE}{path}")))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Answer {
            status: response.status().as_u16(),
            location: None,
            body: response.text().await.unwrap(),
        }
    }
}

/// A user named `name` holding `role` globally (none when empty).
async fn client<'a>(app: &'a TestApp, name: &str, role: &str) -> Client<'a> {
    let id = world::user(&app.db.conn, name, role, Scope::System).await;
    Client {
        app,
        token: app.token_for(id),
    }
}

fn definition(name: &str, unit: &str, kind: &str) -> Value {
    json!({
        "metric_name": name,
        "metric_description": format!("{name}, measured"),
        "unit_type": unit,
        "metric_type": kind,
    })
}

/// A project with provider `provider_row` associated, an installation, and a
/// metric against definition `definition_row`.
async fn metric_against(app: &TestApp, provider_row: i64, definition_row: i64) {
    let conn = &app.db.conn;
    let project = world::project(conn, "EOSC-1").await;
    project_providers::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider_row),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    let installation = installations::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider_row),
        installation: Set("GRNET-KNOSSOS".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    metrics::ActiveModel {
        installation_id: Set(installation.id),
        project_id: Set(project.id),
        metric_definition_id: Set(definition_row),
        period_start: Set("2024-01-01T00:00:00Z".parse().unwrap()),
        period_end: Set("2024-01-02T00:00:00Z".parse().unwrap()),
        value: Set(1.0),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
}

async fn provider_row(app: &TestApp, id: &str, from_portal: bool) -> i64 {
    providers::ActiveModel {
        external_id: Set(id.to_owned()),
        name: Set(id.to_uppercase()),
        creator_id: Set(None),
        from_portal: Set(from_portal),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn metric_definitions_follow_upstream() {
    let app = TestApp::spawn().await;
    let admin = client(&app, "admin", "system_admin").await;

    // Bodies: 415, empty, then validation in upstream's order.
    admin
        .raw(
            reqwest::Method::POST,
            "/metric-definitions",
            "text/plain",
            "{}",
        )
        .await
        .fails(415, "Cannot consume content type.");
    let empty = admin
        .raw(
            reqwest::Method::POST,
            "/metric-definitions",
            "application/json",
            "",
        )
        .await;
    empty.fails(400, "The request body is empty.");
    insta::assert_snapshot!("eosc_catalogue_error", empty.body);
    admin
        .post(
            "/metric-definitions",
            json!({"unit_type": "TB", "metric_type": "count"}),
        )
        .await
        .fails(400, "metric_name may not be empty.");
    admin
        .post(
            "/metric-definitions",
            definition("storage", "furlong", "count"),
        )
        .await
        .fails(404, "There is no unit type : furlong");
    admin
        .post("/metric-definitions", definition("storage", "TB", "tally"))
        .await
        .fails(404, "There is no metric type : tally");

    // Lookups ignore case; the answer carries the stored names.
    let created = admin
        .post(
            "/metric-definitions",
            definition("storage", "tb", "AGGREGATED"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["metric_definition_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("http://[host]/accounting-system/metric-definitions/{id}").as_str())
    );
    insta::assert_snapshot!("eosc_catalogue_definition", created.body);
    admin
        .post("/metric-definitions", definition("STORAGE", "TB", "count"))
        .await
        .fails(
            409,
            &format!(
                "There is a Metric Definition with unit type TB and name STORAGE. Its id is {id}"
            ),
        );

    let read = admin.get(&format!("/metric-definitions/{id}")).await;
    assert_eq!(
        (read.status, read.body.as_str()),
        (200, created.body.as_str())
    );
    for unknown in ["lalala", "00000000000000000000ffff", "1.2"] {
        admin
            .get(&format!("/metric-definitions/{unknown}"))
            .await
            .fails(
                404,
                &format!("There is no Metric Definition with the following id: {unknown}"),
            );
    }

    // PATCH: missing and empty fields stay; types are checked; uniqueness too.
    let other = admin
        .post(
            "/metric-definitions",
            definition("compute", "CPU Time", "aggregated"),
        )
        .await;
    let other_id = other.json()["metric_definition_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = admin
        .patch(
            &format!("/metric-definitions/{other_id}"),
            json!({"metric_description": "CPU", "metric_name": "", "metric_type": "count"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.json(),
        json!({"metric_definition_id": other_id, "metric_name": "compute", "metric_description": "CPU",
               "unit_type": "CPU Time", "metric_type": "count", "creator_id": "admin"})
    );
    admin
        .patch(
            &format!("/metric-definitions/{other_id}"),
            json!({"unit_type": "parsec"}),
        )
        .await
        .fails(404, "There is no unit type : parsec");
    admin
        .patch(
            &format!("/metric-definitions/{other_id}"),
            json!({"unit_type": "TB", "metric_name": "Storage"}),
        )
        .await
        .fails(
            409,
            &format!(
                "There is a Metric Definition with unit type TB and name Storage. Its id is {id}"
            ),
        );
    admin
        .raw(
            reqwest::Method::PATCH,
            &format!("/metric-definitions/{other_id}"),
            "text/xml",
            "<a/>",
        )
        .await
        .fails(415, "Cannot consume content type.");

    // A metric refers to the first: it can be neither updated nor deleted.
    let provider = provider_row(&app, "grnet", true).await;
    let row = tally::service::eosc::parse_external_id(&id).unwrap();
    metric_against(&app, provider, row).await;
    admin
        .patch(
            &format!("/metric-definitions/{id}"),
            json!({"metric_description": "x"}),
        )
        .await
        .fails(
            409,
            "The Metric Definition cannot be updated. There is a Metric assigned to it.",
        );
    admin
        .delete(&format!("/metric-definitions/{id}"))
        .await
        .fails(
            409,
            "The Metric Definition cannot be deleted. There is a Metric assigned to it.",
        );

    let deleted = admin
        .delete(&format!("/metric-definitions/{other_id}"))
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json(),
        json!({"code": 200, "message": "Metric Definition has been deleted successfully."})
    );
    insta::assert_snapshot!("eosc_catalogue_deleted", deleted.body);
    admin
        .delete(&format!("/metric-definitions/{other_id}"))
        .await
        .fails(
            404,
            &format!("There is no Metric Definition with the following id: {other_id}"),
        );

    let list = admin.get("/metric-definitions").await;
    assert_eq!(list.status, 200);
    insta::assert_snapshot!("eosc_catalogue_definitions_page", list.body);
}

#[tokio::test]
async fn unit_and_metric_types_follow_upstream() {
    let app = TestApp::spawn().await;
    let admin = client(&app, "admin", "system_admin").await;

    // The built-ins, paged (11 unit types).
    let page = admin.get("/unit-types?page=2&size=5").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = page.json();
    assert_eq!(
        (
            &body["size_of_page"],
            &body["total_elements"],
            &body["total_pages"]
        ),
        (&json!(5), &json!(11), &json!(3))
    );
    insta::assert_snapshot!("eosc_catalogue_unit_types_page", page.body);
    let past = admin.get("/unit-types?page=9&size=5").await.json();
    assert_eq!(
        (past["content"].clone(), past["links"].clone()),
        (json!([]), json!([]))
    );
    admin
        .get("/unit-types?size=101")
        .await
        .fails(400, "Page size must be between 1 and 100.");
    admin
        .get("/metric-types?page=0")
        .await
        .fails(400, "Page number must be >= 1.");
    let kinds = admin.get("/metric-types").await.json();
    let names: Vec<&str> = kinds["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["metric_type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aggregated", "count", "summarised", "averaged"]);

    // Create: both fields required; names unique ignoring case.
    admin
        .post("/unit-types", json!({"description": "x"}))
        .await
        .fails(400, "unit_type may not be empty.");
    admin
        .post("/unit-types", json!({"unit_type": "GB"}))
        .await
        .fails(400, "description may not be empty.");
    admin
        .post("/unit-types", json!({"unit_type": "tb", "description": "again"}))
        .await
        .fails(
            409,
            "This Unit Type already exists in the Accounting Service database. Its id is 000000000000000000000001",
        );
    let unit = admin
        .post(
            "/unit-types",
            json!({"unit_type": "GB", "description": "Gigabyte"}),
        )
        .await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    insta::assert_snapshot!("eosc_catalogue_unit_type", unit.body);
    let unit_id = unit.json()["id"].as_str().unwrap().to_owned();
    let kind = admin
        .post(
            "/metric-types",
            json!({"metric_type": "peak", "description": "The maximum."}),
        )
        .await;
    assert_eq!(kind.status, 201, "{}", kind.body);
    insta::assert_snapshot!("eosc_catalogue_metric_type", kind.body);
    let kind_id = kind.json()["id"].as_str().unwrap().to_owned();
    admin
        .post("/metric-types", json!({"metric_type": "Count", "description": "x"}))
        .await
        .fails(
            409,
            "This Metric Type already exists in the Accounting Service database. Its id is 000000000000000000000002",
        );

    // Built-ins cannot change.
    let tb = "000000000000000000000001";
    admin.delete(&format!("/unit-types/{tb}")).await.fails(
        403,
        "You cannot delete a Unit Type registered by Accounting Service.",
    );
    admin
        .patch(&format!("/metric-types/{tb}"), json!({"description": "x"}))
        .await
        .fails(
            403,
            "You cannot update a Metric Type registered by Accounting Service.",
        );
    admin
        .get("/unit-types/lalala")
        .await
        .fails(404, "There is no Unit Type with the following id: lalala");

    // Update, then use in a definition: no more changes.
    let renamed = admin
        .patch(
            &format!("/unit-types/{unit_id}"),
            json!({"unit_type": "GiB", "description": ""}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        renamed.json(),
        json!({"id": unit_id, "unit_type": "GiB", "description": "Gigabyte", "creator_id": "admin"})
    );
    admin
        .patch(&format!("/unit-types/{unit_id}"), json!({"unit_type": "s"}))
        .await
        .fails(
            409,
            "This Unit Type already exists in the Accounting Service database. Its id is 00000000000000000000000b",
        );
    let used = admin
        .post("/metric-definitions", definition("memory", "GiB", "peak"))
        .await;
    assert_eq!(used.status, 201, "{}", used.body);
    admin.delete(&format!("/unit-types/{unit_id}")).await.fails(
        403,
        "This Unit Type is used in an existing Metric Definition, so you cannot delete it.",
    );
    admin
        .patch(
            &format!("/metric-types/{kind_id}"),
            json!({"description": "x"}),
        )
        .await
        .fails(
            403,
            "This Metric Type is used in an existing Metric Definition, so you cannot update it.",
        );
    let used_id = used.json()["metric_definition_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        admin
            .delete(&format!("/metric-definitions/{used_id}"))
            .await
            .status,
        200
    );
    let gone = admin.delete(&format!("/unit-types/{unit_id}")).await;
    assert_eq!(
        gone.json(),
        json!({"code": 200, "message": "Unit Type has been deleted successfully."})
    );
    let gone = admin.delete(&format!("/metric-types/{kind_id}")).await;
    assert_eq!(
        gone.json(),
        json!({"code": 200, "message": "Metric Type has been deleted successfully."})
    );
    admin.get(&format!("/metric-types/{kind_id}")).await.fails(
        404,
        &format!("There is no Metric Type with the following id: {kind_id}"),
    );
}

#[tokio::test]
async fn providers_follow_upstream() {
    let app = TestApp::spawn().await;
    let admin = client(&app, "admin", "system_admin").await;

    admin
        .post("/providers", json!({"name": "Sites"}))
        .await
        .fails(400, "id may not be empty.");
    admin
        .post("/providers", json!({"id": "sites"}))
        .await
        .fails(400, "name may not be empty.");
    admin
        .post("/providers", json!({"id": "a.b", "name": "Dotted"}))
        .await
        .fails(400, "Provider ID should not contain a dot character.");
    let body = json!({"id": "cyfronet", "name": "Cyfronet", "website": "https://www.cyfronet.pl",
                      "abbreviation": "CYF", "logo": "https://www.cyfronet.pl/logo.png"});
    let created = admin.post("/providers", body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.location.as_deref(),
        Some("http://[host]/accounting-system/providers/cyfronet")
    );
    insta::assert_snapshot!("eosc_catalogue_provider", created.body);
    admin
        .post("/providers", body)
        .await
        .fails(409, "There is a Provider with id: cyfronet");
    admin
        .post("/providers", json!({"id": "cyf2", "name": "Cyfronet"}))
        .await
        .fails(409, "There is a Provider with name: Cyfronet");
    admin
        .get("/providers/lalala")
        .await
        .fails(404, "There is no Provider with the following id: lalala");

    let patched = admin
        .patch(
            "/providers/cyfronet",
            json!({"abbreviation": "ACK", "name": "", "id": "x"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["abbreviation"], "ACK");
    assert_eq!(patched.json()["id"], "cyfronet");
    assert_eq!(patched.json()["name"], "Cyfronet");

    // Portal providers are read-only; a project's provider stays.
    provider_row(&app, "sites", true).await;
    admin.delete("/providers/sites").await.fails(
        403,
        "You cannot delete a Provider which derives from EOSC-Portal.",
    );
    admin
        .patch("/providers/sites", json!({"name": "x"}))
        .await
        .fails(
            403,
            "You cannot update a Provider which derives from EOSC-Portal.",
        );
    let in_project = admin
        .post("/providers", json!({"id": "grnet", "name": "GRNET"}))
        .await;
    assert_eq!(in_project.status, 201);
    let grnet = providers::Entity::find_by_external_id("grnet")
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let definition = admin
        .post(
            "/metric-definitions",
            definition("storage", "TB", "aggregated"),
        )
        .await;
    let row = tally::service::eosc::parse_external_id(
        definition.json()["metric_definition_id"].as_str().unwrap(),
    )
    .unwrap();
    metric_against(&app, grnet.id, row).await;
    admin.delete("/providers/grnet").await.fails(
        403,
        "You cannot delete a Provider which belongs to a Project.",
    );

    let list = admin.get("/providers?size=2").await;
    assert_eq!(list.status, 200);
    insta::assert_snapshot!("eosc_catalogue_providers_page", list.body);
    let ids: Vec<String> = admin.get("/providers").await.json()["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["cyfronet", "grnet", "sites"]);

    let deleted = admin.delete("/providers/cyfronet").await;
    assert_eq!(
        deleted.json(),
        json!({"code": 200, "message": "Provider has been deleted successfully."})
    );
    admin
        .get("/providers/cyfronet")
        .await
        .fails(404, "There is no Provider with the following id: cyfronet");
}

#[tokio::test]
async fn collection_permissions_follow_the_roles() {
    let app = TestApp::spawn().await;
    let owner = client(&app, "owner", "eosc_collection_owner").await;
    let reader = client(&app, "reader", "eosc_collection_reader").await;
    let alice = client(&app, "alice", "eosc_metric_definition_creator").await;
    let bob = client(&app, "bob", "eosc_metric_definition_creator").await;
    let provider_creator = client(&app, "carol", "eosc_provider_creator").await;
    let nobody = client(&app, "nobody", "").await;
    const DENIED: &str =
        "The authenticated client is not permitted to perform the requested operation.";

    // Nothing granted: nothing allowed, not even reading.
    nobody.get("/metric-definitions").await.fails(403, DENIED);
    nobody.get("/providers").await.fails(403, DENIED);
    // Unauthenticated: 401.
    let anonymous = Client {
        app: &app,
        token: "not-a-token".to_owned(),
    };
    assert_eq!(anonymous.get("/unit-types").await.status, 401);

    // A reader reads every collection and writes none.
    for path in [
        "/metric-definitions",
        "/unit-types",
        "/metric-types",
        "/providers",
    ] {
        assert_eq!(reader.get(path).await.status, 200, "{path}");
    }
    let refused = reader
        .post(
            "/metric-definitions",
            definition("storage", "TB", "aggregated"),
        )
        .await;
    refused.fails(403, DENIED);
    reader
        .post(
            "/unit-types",
            json!({"unit_type": "GB", "description": "x"}),
        )
        .await
        .fails(403, DENIED);
    reader
        .post("/providers", json!({"id": "p", "name": "P"}))
        .await
        .fails(403, DENIED);

    // A creator creates, reads all, changes only its own.
    let mine = alice
        .post(
            "/metric-definitions",
            definition("storage", "TB", "aggregated"),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_eq!(mine.json()["creator_id"], "alice");
    let mine = mine.json()["metric_definition_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = bob
        .post(
            "/metric-definitions",
            definition("compute", "CPU Time", "aggregated"),
        )
        .await;
    let theirs = theirs.json()["metric_definition_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        alice.get("/metric-definitions").await.json()["total_elements"],
        2
    );
    assert_eq!(
        alice
            .get(&format!("/metric-definitions/{theirs}"))
            .await
            .status,
        200
    );
    alice
        .patch(
            &format!("/metric-definitions/{theirs}"),
            json!({"metric_description": "x"}),
        )
        .await
        .fails(403, DENIED);
    alice
        .delete(&format!("/metric-definitions/{theirs}"))
        .await
        .fails(403, DENIED);
    let own = alice
        .patch(
            &format!("/metric-definitions/{mine}"),
            json!({"metric_description": "mine"}),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    // A definition creator has no right on other collections.
    alice
        .post(
            "/unit-types",
            json!({"unit_type": "GB", "description": "x"}),
        )
        .await
        .fails(403, DENIED);
    alice.get("/providers").await.fails(403, DENIED);
    assert_eq!(
        alice
            .delete(&format!("/metric-definitions/{mine}"))
            .await
            .status,
        200
    );

    // A provider creator: its own providers only; /providers/all lists them.
    let created = provider_creator
        .post("/providers", json!({"id": "carols", "name": "Carol's"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        owner
            .post("/providers", json!({"id": "owners", "name": "Owner's"}))
            .await
            .status,
        201
    );
    provider_creator
        .patch("/providers/owners", json!({"name": "Mine now"}))
        .await
        .fails(403, DENIED);
    let all = provider_creator.get("/providers/all").await.json();
    assert_eq!(all["total_elements"], 1);
    assert_eq!(all["content"][0]["id"], "carols");
    assert_eq!(
        provider_creator.get("/providers").await.json()["total_elements"],
        2
    );

    // The owner may do everything, on anyone's entities.
    assert_eq!(
        owner
            .patch(
                &format!("/metric-definitions/{theirs}"),
                json!({"metric_description": "y"})
            )
            .await
            .status,
        200
    );
    assert_eq!(
        owner
            .delete(&format!("/metric-definitions/{theirs}"))
            .await
            .status,
        200
    );
    assert_eq!(owner.delete("/providers/carols").await.status, 200);
    let unit = owner
        .post(
            "/unit-types",
            json!({"unit_type": "GB", "description": "Gigabyte"}),
        )
        .await;
    assert_eq!(unit.status, 201);
}
