"""The Kubernetes manifests render with kustomize, built-in kinds validate against the Kubernetes
schemas, and the operators' kinds carry the fields they need."""
from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.ops.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
# the operators' own CRD schemas (storage version, descriptions dropped; "source" names repo and commit)
CRDS = {(crd["group"], crd["kind"]): crd for crd in (json.loads(path.read_text()) for path in
                                                     (ROOT / "tests" / "ops" / "crds").glob("*.json"))}
CRD_GROUPS = ("rabbitmq.com/", "postgresql.cnpg.io/", "keda.sh/")


@pytest.fixture(scope="module", params=["small", "large"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing (it renders with its built-in kustomize)"
    built = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / request.param)], capture_output=True,
                           text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_built_in_kinds_validate(rendered: list[dict[str, Any]]) -> None:
    built_in = [doc for doc in rendered if not doc["apiVersion"].startswith(CRD_GROUPS)]
    assert len(built_in) >= 20
    for doc in built_in:
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_every_process_has_a_deployment_probes_resources_and_a_budget(rendered: list[dict[str, Any]]) -> None:
    deployments, budgets = _of(rendered, "Deployment"), _of(rendered, "PodDisruptionBudget")
    processes = {"gateway", "members", "points", "campaigns", "notify", "catalog", "feed", "care", "fraud", "analytics"}
    assert set(deployments) == processes | {"console"} == set(budgets)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"] and container["readinessProbe"]["httpGet"], name
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"], name
        # what prometheus-k8s.yml keeps
        assert container["ports"][0]["name"] == "metrics", name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == name and labels["app.kubernetes.io/part-of"] == "loyalty"
        for var in container["env"]:  # secrets are referenced, never written in
            assert "PASSWORD" not in var["name"] or "valueFrom" in var, (name, var["name"])
    assert deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"][
        "path"] == "/readyz"
    for name in processes - {"gateway"}:  # a dead consumer, not just a live process
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
    assert "loyalty-members-keys" in str(deployments["members"]) and "loyalty-members-keys" not in str(
        deployments["points"])
    # sessions are in Redis: more than one replica, rolled one at a time, and allowed to reach Redis
    console = deployments["console"]["spec"]
    assert console["replicas"] > 1 and console["strategy"]["type"] == "RollingUpdate"
    console_env = {var["name"]: var.get("value") for var in console["template"]["spec"]["containers"][0]["env"]}
    assert console_env["CONSOLE_SESSION_REDIS_URL"].startswith("redis://redis.loyalty.svc:")
    assert budgets["console"]["spec"].get("minAvailable", 1) == 1  # the large overlay: maxUnavailable 25%
    redis_policy = next(doc for doc in rendered if doc["kind"] == "NetworkPolicy"
                        and doc["metadata"]["name"] == "redis-from-gateway")
    assert {"app.kubernetes.io/name": "console"} in [
        peer["podSelector"]["matchLabels"] for peer in redis_policy["spec"]["ingress"][0]["from"]]
    assert "secretRef" not in str(console)  # it holds no platform secret: it calls the API as its users


def test_only_the_gateway_and_the_console_are_reachable_from_outside(rendered: list[dict[str, Any]]) -> None:
    policies = _of(rendered, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_to_all = [name for name, p in policies.items() if any("from" not in rule for rule in p["spec"].get(
        "ingress", []))]
    assert sorted(open_to_all) == ["console-from-anywhere", "gateway-from-anywhere"]
    assert _of(rendered, "Job")["bootstrap"]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == \
        "service_runtime.bootstrap"


def test_operator_kinds_have_what_they_need(rendered: list[dict[str, Any]]) -> None:
    rabbit = _of(rendered, "RabbitmqCluster")["rabbitmq"]["spec"]
    assert rabbit["replicas"] == 3 and "rabbitmq_prometheus" in rabbit["rabbitmq"]["additionalPlugins"]
    assert "default_queue_type = quorum" in rabbit["rabbitmq"]["additionalConfig"]
    assert rabbit["image"].startswith("rabbitmq:4.")
    assert "deprecated_features" not in rabbit["rabbitmq"]["additionalConfig"]
    clusters = _of(rendered, "Cluster")
    assert set(clusters) == {f"pg-{db}" for db in ("gateway", "members", "points", "campaigns", "notify", "catalog",
                                                   "feed", "care", "fraud", "analytics")}
    for name, cluster in clusters.items():
        spec = cluster["spec"]
        assert spec["instances"] >= 2 and spec["storage"]["size"], name
        assert spec["bootstrap"]["initdb"]["database"] == "loyalty_" + name[3:]
        store = spec["backup"]["barmanObjectStore"]
        assert store["destinationPath"] and store["s3Credentials"]["accessKeyId"]["name"], name
        assert all(q["name"] == "loyalty-pg-queries" for q in spec["monitoring"]["customQueriesConfigMap"])
    scheduled = _of(rendered, "ScheduledBackup")
    assert {b["spec"]["cluster"]["name"] for b in scheduled.values()} == set(clusters)
    assert all(len(b["spec"]["schedule"].split()) == 6 for b in scheduled.values())  # cnpg: seconds first
    points = _of(rendered, "ScaledObject")["points"]["spec"]
    assert points["scaleTargetRef"]["name"] == "points" and points["maxReplicaCount"] > points["minReplicaCount"]
    trigger = points["triggers"][0]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["authenticationRef"]["name"] in _of(rendered, "TriggerAuthentication")


def test_pg_queries_match_the_local_ones() -> None:
    for path in (ROOT / "deploy" / "prometheus" / "pg-queries").glob("*.yaml"):
        assert (K8S / "base" / "pg-queries" / path.name).read_text() == path.read_text(), path.name


def _unknown_fields(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Fields the API server would prune silently (a typo in a CRD field is no error there)."""
    if isinstance(value, dict) and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        found = [f"{path}.{key}" for key in value if key not in schema["properties"]]
        for key, item in value.items():
            if key in schema["properties"]:
                found += _unknown_fields(item, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [bad for i, item in enumerate(value) for bad in _unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def test_operator_kinds_validate_against_their_crds(rendered: list[dict[str, Any]]) -> None:
    checked = 0
    for doc in rendered:
        if not doc["apiVersion"].startswith(CRD_GROUPS):
            continue
        group, version = doc["apiVersion"].split("/")
        crd = CRDS[(group, doc["kind"])]
        assert version == crd["version"], (doc["kind"], version, crd["version"])
        spec_schema = crd["schema"]["properties"]["spec"]
        jsonschema.Draft7Validator(spec_schema).validate(doc["spec"])
        assert _unknown_fields(doc["spec"], spec_schema, doc["kind"]) == []
        checked += 1
    assert checked >= 13


# the trigger settings KEDA's rabbitmq scaler reads (pkg/scalers/rabbitmq_scaler.go, keda:"name=..." tags)
KEDA_RABBITMQ_METADATA = {"queueName", "mode", "queueLength", "value", "activationValue", "host", "protocol",
                          "vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout",
                          "unsafeSsl"}


def test_keda_trigger_uses_only_settings_the_scaler_reads(rendered: list[dict[str, Any]]) -> None:
    trigger = _of(rendered, "ScaledObject")["points"]["spec"]["triggers"][0]
    assert set(trigger["metadata"]) <= KEDA_RABBITMQ_METADATA
    assert trigger["metadata"]["protocol"] == "http"  # useRegex needs the management API
    auth = _of(rendered, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]["spec"]
    assert {ref["parameter"] for ref in auth["secretTargetRef"]} == {"username", "password"}


def test_gateway_metrics_are_on_a_port_the_outside_cannot_reach(rendered: list[dict[str, Any]]) -> None:
    gateway = _of(rendered, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    env = {var["name"]: var.get("value") for var in gateway["env"]}
    assert ports["metrics"] == int(env["GATEWAY_METRICS_PORT"]) != ports["http"] == int(env["GATEWAY_PORT"])
    assert gateway["readinessProbe"]["httpGet"]["port"] == gateway["livenessProbe"]["httpGet"]["port"] == "http"
    assert _of(rendered, "Service")["gateway"]["spec"]["ports"][0]["targetPort"] == "http"
    public = _of(rendered, "NetworkPolicy")["gateway-from-anywhere"]["spec"]["ingress"]
    assert [port["port"] for rule in public for port in rule["ports"]] == [ports["http"]]
    # rate limits shared through the Redis beside it, which only gateways reach
    assert env["RATE_LIMIT_REDIS_URL"].startswith("redis://redis.loyalty.svc:")
    assert "redis" in _of(rendered, "StatefulSet") and "redis" in _of(rendered, "Service")
    assert _of(rendered, "NetworkPolicy")["redis-from-gateway"]["spec"]["ingress"][0]["from"][0]["podSelector"] == \
        {"matchLabels": {"app.kubernetes.io/name": "gateway"}}


def test_notify_channels_come_from_a_config_map_and_their_keys_from_a_secret(rendered: list[dict[str, Any]]) -> None:
    deployments = _of(rendered, "Deployment")
    notify = deployments["notify"]["spec"]["template"]["spec"]["containers"][0]
    sources = [ref["name"] for source in notify["envFrom"] for ref in source.values()]
    assert {"loyalty-notify-config", "loyalty-notify-keys"} <= set(sources)
    assert not [name for name, d in deployments.items() if name != "notify" and "loyalty-notify-" in str(d)]
    config = _of(rendered, "ConfigMap")["loyalty-notify-config"]["data"]
    assert config["NOTIFY_WECHAT_PROVIDER"] == "wechat" and config["NOTIFY_SMS_PROVIDER"] in ("aliyun", "tencent")
    secret_words = ("SECRET", "TOKEN", "PASSWORD", "HASH_KEY", "ACCESS_KEY")
    assert not [key for key in config if any(word in key for word in secret_words)]
    source = "".join(path.read_text() for path in (ROOT / "services" / "notify").glob("*.py"))
    prefixed = {"NOTIFY_WECHAT_MP_APP_ID": "NOTIFY_WECHAT_MP_", "NOTIFY_WECHAT_OA_APP_ID": "NOTIFY_WECHAT_OA_"}
    assert not [key for key in config if prefixed.get(key, key) not in source
                and not key.endswith("_PROVIDER")]  # a typo would be silently ignored
