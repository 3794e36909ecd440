//! EOSC REST: projects (registration by a system administrator, the
//! hierarchy, provider association) and installations over HTTP, with
//! upstream's messages and statuses and the scoped roles of eosc.md §5.

use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{metric_definitions, metric_types, providers, unit_types};
use tally::service::eosc::external_id;

use crate::helpers::{TestApp, world};

struct World {
    app: TestApp,
    admin: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let admin = tally::service::users::add(
            &app.db.conn,
            "root",
            None,
            "correct horse battery staple",
            true,
        )
        .await
        .unwrap();
        let admin = app.token_for(admin.id);
        for (id, name) in [("grnet", "GRNET"), ("cyfronet", "CYFRONET")] {
            providers::ActiveModel {
                external_id: Set(id.to_owned()),
                name: Set(name.to_owned()),
                website: Set(Some(format!("https://{id}.example"))),
                ..Default::default()
            }
            .insert(&app.db.conn)
            .await
            .unwrap();
        }
        Self { app, admin }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("/accounting-system{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body, location)
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value, Option<String>) {
        self.send(reqwest::Method::POST, token, path, Some(body))
            .await
    }

    /// The raw text of a GET's answer: the order of its fields is part of
    /// the wire format.
    async fn text(&self, token: &str, path: &str) -> String {
        self.app
            .client
            .get(self.app.url(&format!("/accounting-system{path}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let (status, body, _) = self.send(reqwest::Method::GET, token, path, None).await;
        (status, body)
    }

    /// A user with an EOSC role on `scope`, and their token.
    async fn user(&self, name: &str, role: &str, scope: Scope) -> String {
        let id = world::user(&self.app.db.conn, name, role, scope).await;
        self.app.token_for(id)
    }

    async fn register(&self, id: &str) -> Value {
        let (status, body, _) = self
            .post(
                &self.admin,
                "/admin/projects",
                json!({ "id": id, "acronym": "EGI-ACE", "title": "EGI Advanced Computing for EOSC",
                        "start_date": "2021-01-01", "end_date": "2023-06-30",
                        "call_identifier": "H2020-INFRAEOSC-2020-2" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn project_id(&self, grant: &str) -> i64 {
        tally::service::eosc_projects::project(&self.app.db.conn, grant)
            .await
            .unwrap()
            .id
    }
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap()
}

async fn definition(app: &TestApp) -> metric_definitions::Model {
    let unit = unit_types::Entity::find_by_name("TB")
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let kind = metric_types::Entity::find_by_name("aggregated")
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    metric_definitions::ActiveModel {
        name: Set("storage".to_owned()),
        description: Set(Some("Storage held".to_owned())),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(kind.id),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn projects_are_registered_by_administrators_and_read_by_their_acl() {
    let w = World::new().await;
    let created = w.register("101017567").await;
    assert_eq!(created["providers"], json!([]));
    insta::assert_snapshot!(
        "project_registered",
        w.text(&w.admin, "/projects/101017567").await
    );

    // Registration: administrators only, upstream's rules.
    let stranger = w.user("stranger", "", Scope::System).await;
    let (status, body, _) = w
        .post(&stranger, "/admin/projects", json!({ "id": "1" }))
        .await;
    assert_eq!(
        (status, message(&body)),
        (403, "You cannot perform this operation")
    );
    for (body, expected) in [
        (json!({ "id": "1.2" }), "acronym may not be empty."),
        (
            json!({ "id": "1.2", "acronym": "A", "title": "T", "start_date": "2021-01-01",
                    "end_date": "2022-01-01", "call_identifier": "C" }),
            "Project ID should not contain a dot character.",
        ),
        (
            json!({ "id": "7", "acronym": "A", "title": "T", "start_date": "2021-02-30",
                    "end_date": "2022-01-01", "call_identifier": "C" }),
            "start_date must be a date in the form yyyy-mm-dd.",
        ),
    ] {
        let (status, answer, _) = w.post(&w.admin, "/admin/projects", body).await;
        assert_eq!((status, message(&answer)), (400, expected));
    }
    let (status, body, _) = w
        .post(
            &w.admin,
            "/admin/projects",
            json!({ "id": "101017567", "acronym": "A", "title": "T", "start_date": "2021-01-01",
                    "end_date": "2022-01-01", "call_identifier": "C" }),
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (409, "There is a Project with the following id: 101017567")
    );

    // Reading: the project's ACL.
    w.register("857647").await;
    let project = w.project_id("101017567").await;
    let reader = w
        .user("reader", "eosc_project_reader", Scope::Project(project))
        .await;
    let (status, body) = w.get(&reader, "/projects").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["total_elements"], 1,
        "only the reader's project: {body}"
    );
    assert_eq!(body["content"][0]["id"], "101017567");
    assert_eq!(w.get(&reader, "/projects/101017567").await.0, 200);
    let (status, body) = w.get(&reader, "/projects/857647").await;
    assert_eq!(
        (status, message(&body)),
        (
            403,
            "The authenticated client is not permitted to perform the requested operation."
        )
    );
    let (status, body) = w.get(&reader, "/projects/000").await;
    assert_eq!(
        (status, message(&body)),
        (404, "There is no Project with the following id: 000")
    );
    let (status, body) = w.get(&w.admin, "/projects?page=1&size=1").await;
    assert_eq!((status, body["total_pages"].clone()), (200, json!(2)));
}

#[tokio::test]
async fn installations_live_under_associated_providers() {
    let w = World::new().await;
    w.register("101017567").await;
    let project = w.project_id("101017567").await;
    let project_admin = w
        .user("padmin", "eosc_project_admin", Scope::Project(project))
        .await;
    let reader = w
        .user("reader", "eosc_project_reader", Scope::Project(project))
        .await;
    let unit = definition(&w.app).await;

    // No installation before the provider is associated.
    let installation = json!({ "project": "101017567", "organisation": "grnet",
        "infrastructure": "EGI", "installation": "GRNET-KNOSSOS",
        "unit_of_access": external_id(unit.id) });
    let (status, body, _) = w
        .post(&project_admin, "/installations", installation.clone())
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            400,
            "There is no relationship between Project 101017567 and Provider grnet"
        )
    );
    // Association: the project's admin; unknown providers are 404.
    let (status, body, _) = w
        .post(
            &reader,
            "/projects/101017567/associate",
            json!({ "providers": ["grnet"] }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body, _) = w
        .post(
            &project_admin,
            "/projects/101017567/associate",
            json!({ "providers": ["grnet", "nope"] }),
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (404, "There is no Provider with the following id: nope")
    );
    let (status, body, _) = w
        .post(
            &project_admin,
            "/projects/101017567/associate",
            json!({ "providers": ["grnet", "cyfronet"] }),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "code": 200, "message": "The following providers [grnet, cyfronet] have been associated with Project 101017567" })
        )
    );

    // Creation: 201 with Location; a reader may not; duplicates are 409.
    assert_eq!(
        w.post(&reader, "/installations", installation.clone())
            .await
            .0,
        403
    );
    let (status, created, location) = w
        .post(&project_admin, "/installations", installation.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(
        location
            .unwrap()
            .ends_with(&format!("/accounting-system/installations/{id}"))
    );
    insta::assert_snapshot!(
        "installation",
        w.text(&project_admin, &format!("/installations/{id}"))
            .await
    );
    let (status, body, _) = w
        .post(&project_admin, "/installations", installation.clone())
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            409,
            format!(
                "There is an Installation with the following combination : {{101017567, grnet, GRNET-KNOSSOS}}. Its id is {id}"
            )
            .as_str()
        )
    );
    for (body, expected) in [
        (
            json!({ "organisation": "grnet", "installation": "X" }),
            (400, "project may not be empty."),
        ),
        (
            json!({ "project": "101017567", "organisation": "grnet", "installation": "X",
                    "unit_of_access": "nope" }),
            (
                404,
                "There is no Metric Definition with the following id: nope",
            ),
        ),
        (
            json!({ "project": "101017567", "organisation": "grnet", "installation": "X",
                    "resource": "nope" }),
            (404, "There is no Resource with the following id: nope"),
        ),
    ] {
        let (status, answer, _) = w.post(&project_admin, "/installations", body).await;
        assert_eq!((status, message(&answer)), expected);
    }

    // Reading: the reader sees it, an installation admin of another does not.
    let other = w
        .post(
            &project_admin,
            "/installations",
            json!({ "project": "101017567", "organisation": "cyfronet", "installation": "CYF-ARES" }),
        )
        .await
        .1;
    let other_id = other["id"].as_str().unwrap();
    let installation_admin = w
        .user(
            "iadmin",
            "eosc_installation_admin",
            Scope::Installation(tally::service::eosc::parse_external_id(other_id).unwrap()),
        )
        .await;
    assert_eq!(
        w.get(&reader, &format!("/installations/{id}")).await,
        (200, created.clone())
    );
    assert_eq!(
        w.get(&installation_admin, &format!("/installations/{id}"))
            .await
            .0,
        403
    );
    assert_eq!(
        w.get(&installation_admin, &format!("/installations/{other_id}"))
            .await
            .0,
        200
    );
    let (status, body) = w
        .get(&reader, "/projects/101017567/installations?size=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["size_of_page"].clone(),
            body["total_elements"].clone(),
            body["total_pages"].clone()
        ),
        (json!(1), json!(2), json!(2))
    );
    let (status, body) = w
        .get(
            &reader,
            "/projects/101017567/providers/cyfronet/installations",
        )
        .await;
    assert_eq!(
        (status, body["content"][0]["installation"].clone()),
        (200, json!("CYF-ARES"))
    );

    // The hierarchy.
    let (status, tree) = w.get(&reader, "/projects/101017567").await;
    assert_eq!(
        (status, tree["providers"].as_array().unwrap().len()),
        (200, 2)
    );
    insta::assert_snapshot!(
        "project_hierarchy",
        w.text(&reader, "/projects/101017567").await
    );

    // Updates and deletion; a provider with installations stays associated.
    let (status, patched, _) = w
        .send(
            reqwest::Method::PATCH,
            &project_admin,
            &format!("/installations/{id}"),
            Some(json!({ "infrastructure": "EGI-Federation", "installation": null })),
        )
        .await;
    assert_eq!(
        (
            status,
            patched["infrastructure"].clone(),
            patched["installation"].clone()
        ),
        (200, json!("EGI-Federation"), json!("GRNET-KNOSSOS"))
    );
    let (status, body, _) = w
        .post(
            &project_admin,
            "/projects/101017567/dissociate",
            json!({ "providers": ["grnet"] }),
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            409,
            "Dissociation is not allowed. There are registered installations to {101017567, grnet}."
        )
    );
    let (status, body, _) = w
        .send(
            reqwest::Method::DELETE,
            &project_admin,
            &format!("/installations/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "code": 200, "message": "Installation has been deleted successfully." })
        )
    );
    let (status, body, _) = w
        .post(
            &project_admin,
            "/projects/101017567/dissociate",
            json!({ "providers": ["grnet"] }),
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            200,
            "The following providers [grnet] have been dissociated from Project 101017567"
        )
    );
    // Another content type is 415.
    let response = w
        .app
        .client
        .post(w.app.url("/accounting-system/installations"))
        .bearer_auth(&project_admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn installations_with_metrics_cannot_change() {
    let w = World::new().await;
    w.register("101017567").await;
    let (_, _, _) = w
        .post(
            &w.admin,
            "/projects/101017567/associate",
            json!({ "providers": ["grnet"] }),
        )
        .await;
    let (_, created, _) = w
        .post(
            &w.admin,
            "/installations",
            json!({ "project": "101017567", "organisation": "grnet", "installation": "X" }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let row = tally::service::eosc::parse_external_id(&id).unwrap();
    let unit = definition(&w.app).await;
    let project = w.project_id("101017567").await;
    tally::entity::metrics::ActiveModel {
        installation_id: Set(row),
        project_id: Set(project),
        metric_definition_id: Set(unit.id),
        period_start: Set("2024-01-01T00:00:00Z".parse().unwrap()),
        period_end: Set("2024-01-02T00:00:00Z".parse().unwrap()),
        value: Set(1.0),
        ..Default::default()
    }
    .insert(&w.app.db.conn)
    .await
    .unwrap();
    let (status, body, _) = w
        .send(
            reqwest::Method::PATCH,
            &w.admin,
            &format!("/installations/{id}"),
            Some(json!({ "infrastructure": "Y" })),
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            403,
            "Updating an Installation is not allowed if there are Metrics assigned to it."
        )
    );
    let (status, body, _) = w
        .send(
            reqwest::Method::DELETE,
            &w.admin,
            &format!("/installations/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, message(&body)),
        (
            403,
            "Deleting an Installation is not allowed if there are Metrics assigned to it."
        )
    );
}
