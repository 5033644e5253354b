"""Deployment files, checked against the code they deploy: every variable they set is a real setting,
every secret they reference exists in the secret template, every probe and ingress path is a real
route of the role that serves it, the commands parse with the CLI, the image runs as a non-root user.

No Docker engine or cluster is needed; ``kubectl kustomize`` runs when kubectl is installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import build_parser
from bot.serve import HEALTH_PATH, build_routes
from bot.settings import Settings
from bot.slack.transport import SLACK_EVENTS_PATH
from bot.web.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SECRET_NAME = "helpdesk-bot-secrets"
CREDENTIALS_NAME = "helpdesk-bot-source-credentials"


def setting_names() -> set[str]:
    """Every environment variable name Settings reads (prefixed names and aliases)."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is not None:
            names.update(str(c) for c in alias.choices)  # type: ignore[union-attr]
        else:
            names.add(f"HELPDESK_{field_name.upper()}")
    return names


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def role_paths(role: str) -> set[str]:
    """The HTTP paths a process of ``role`` serves (Slack's HTTP ingress included for web roles)."""
    settings = Settings(_env_file=None, admin_token="x" * 32)  # type: ignore[call-arg]
    # Only the routes' paths are read: the parts they are built over are never used.
    unused = SimpleNamespace(state=SimpleNamespace(ledger=None, questions=None, drafts=None), syncs=None)
    routes = build_routes(unused, settings, role=role, metrics=Metrics(process=False), closers=[])  # type: ignore[arg-type]
    paths = {getattr(r, "path", "") for r in routes} | {HEALTH_PATH}
    if role != "scheduler":
        paths.add(SLACK_EVENTS_PATH)
    return paths


def parse_serve(args: list[str]) -> Any:
    parsed = build_parser().parse_args(args)
    assert parsed.command == "serve"
    return parsed


# --- Dockerfile -------------------------------------------------------------------------------------------
def dockerfile_stages() -> list[list[str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_non_root_with_the_model_checked_offline_and_a_healthcheck() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2 and stages[0][0].endswith(" AS build") and stages[-1][0].endswith(" AS runtime")
    assert all("-slim" in s[0] for s in stages)
    final = stages[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == "10001"
    assert any(line.startswith("COPY --from=build /opt/venv /opt/venv") for line in final)
    # The model loads and the chunker works with no network, as the unprivileged user, in the final image.
    offline = [line for line in final if line.startswith("RUN --network=none")]
    assert offline == ["RUN --network=none python -m bot.web.selfcheck model"]
    assert final.index(offline[0]) > final.index(next(line for line in final if line.startswith("USER ")))
    [health] = [line for line in final if line.startswith("HEALTHCHECK")]
    assert '"bot.web.selfcheck", "http"' in health
    [expose] = [line for line in final if line.startswith("EXPOSE")]
    env_text = " ".join(line for line in final if line.startswith("ENV "))
    assert f"HELPDESK_HTTP_PORT={expose.split()[1]}" in env_text
    for name in re.findall(r"\b(HELPDESK_[A-Z_]+)=", env_text):
        assert name in setting_names(), name
    [entry] = [line for line in final if line.startswith("ENTRYPOINT")]
    assert entry == 'ENTRYPOINT ["helpdesk-bot"]'
    assert 'helpdesk-bot = "bot.cli:main"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    [cmd] = [line for line in final if line.startswith("CMD")]
    assert parse_serve(yaml.safe_load(cmd.removeprefix("CMD "))).role == "all"


def test_dockerfile_copies_only_what_exists_and_the_ignore_file_lets_it_through() -> None:
    copies = [line.split()[1:-1] for s in dockerfile_stages() for line in s
              if line.startswith("COPY ") and "--from" not in line]
    sources = {src for srcs in copies for src in srcs}
    assert sources == {"pyproject.toml", "README.md", "bot", "connectors"}
    for src in sources:
        assert (ROOT / src).exists(), src
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("**")] == "**"
    for src in ("pyproject.toml", "README.md", "bot/", "connectors/"):
        assert f"!{src}" in ignore


def test_selfcheck_model_and_http(tmp_path: Path) -> None:
    from bot.serve import HttpServer, asgi_app
    from bot.web.selfcheck import main

    assert main(["model"]) == 0
    server = HttpServer(asgi_app(), host="127.0.0.1", port=0).start()
    try:
        assert main(["http", f"{server.url}/healthz"]) == 0
        assert main(["http", f"{server.url}/nope"]) == 1
    finally:
        server.stop()
    assert main(["http", "http://127.0.0.1:9/healthz"]) == 1


# --- docker compose --------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_the_bot_with_a_qdrant_server_and_postgres() -> None:
    c = compose()
    services = c["services"]
    assert set(services) == {"bot", "qdrant", "postgres"}
    bot = services["bot"]
    assert bot["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    assert parse_serve(bot["command"]).role == "all"
    assert bot["env_file"] == ["../.env"] and (DEPLOY / "../.env.example").is_file()
    env = bot["environment"]
    assert set(env) <= setting_names(), set(env) - setting_names()

    qdrant_url = urlsplit(env["QDRANT_URL"])
    assert qdrant_url.hostname == "qdrant" and qdrant_url.port == 6333
    assert re.fullmatch(r"qdrant/qdrant:\$\{QDRANT_VERSION:-v\d+\.\d+\.\d+\}", services["qdrant"]["image"])

    db = urlsplit(env["HELPDESK_STATE_DB_URL"])
    pg = services["postgres"]["environment"]
    assert db.scheme == "postgresql+psycopg" and db.hostname == "postgres" and db.port == 5432
    assert db.username == pg["POSTGRES_USER"] and db.path == f"/{pg['POSTGRES_DB']}"
    assert db.password == pg["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-helpdesk}"

    assert env["HELPDESK_HTTP_HOST"] == "0.0.0.0" and bot["ports"] == [f"{env['HELPDESK_HTTP_PORT']}:3000"]
    for dep, cond in bot["depends_on"].items():
        assert cond == {"condition": "service_healthy"} and "healthcheck" in services[dep]
    health_url = bot["healthcheck"]["test"][-1]
    assert urlsplit(health_url).path in role_paths("all")
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
    assert named == set(c["volumes"])


def test_qdrant_cluster_override_joins_three_nodes_and_sets_sharding() -> None:
    base = compose()["services"]
    over = yaml.safe_load((DEPLOY / "qdrant-cluster.yml").read_text(encoding="utf-8"))
    services = over["services"]
    nodes = ["qdrant", "qdrant-2", "qdrant-3"]
    assert set(services) == {"bot", *nodes} and "qdrant" in base
    for name in nodes:
        node = services[name]
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        command = node["command"]
        assert command[command.index("--uri") + 1] == f"http://{name}:6335"
        if name != "qdrant":  # the others join the first node's peer-to-peer port
            assert command[command.index("--bootstrap") + 1] == "http://qdrant:6335"
            assert node["image"] == base["qdrant"]["image"] and "healthcheck" in node
            assert {v.split(":")[0] for v in node["volumes"]} <= set(over["volumes"])
    env = services["bot"]["environment"]
    assert set(env) <= setting_names(), set(env) - setting_names()
    settings = Settings(_env_file=None, **{k.removeprefix("HELPDESK_").lower(): v for k, v in env.items()
                                           if k.startswith("HELPDESK_")})  # type: ignore[arg-type]
    assert (settings.qdrant_shards, settings.qdrant_replication, settings.qdrant_write_consistency) == (6, 2, 1)
    assert settings.qdrant_write_consistency <= settings.qdrant_replication
    assert set(services["bot"]["depends_on"]) == {"qdrant-2", "qdrant-3"}


# --- Kubernetes (kustomize) ------------------------------------------------------------------------------
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


def k8s_docs() -> list[dict[str, Any]]:
    files = list(kustomization()["resources"]) + ["hpa.yaml"]  # the optional autoscaler too
    docs = []
    for name in files:
        docs.extend(d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d)
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def generators() -> tuple[dict[str, Any], dict[str, Any]]:
    k = kustomization()
    return ({g["name"]: g for g in k["configMapGenerator"]}, {g["name"]: g for g in k["secretGenerator"]})


def secret_keys() -> set[str]:
    return set(env_file(K8S / "secret.example.env"))


def test_config_and_secret_templates_hold_only_real_settings() -> None:
    config = env_file(K8S / "config.env")
    assert set(config) <= setting_names(), set(config) - setting_names()
    assert set(secret_keys()) <= setting_names(), secret_keys() - setting_names()
    assert not set(config) & secret_keys()  # a value lives in one place
    assert config["HELPDESK_SLACK_MODE"] == "http"  # many replicas behind a load balancer
    assert urlsplit(config["QDRANT_URL"]).scheme in ("http", "https")  # Qdrant is external
    assert urlsplit(env_file(K8S / "secret.example.env")["HELPDESK_STATE_DB_URL"]).scheme == "postgresql+psycopg"
    assert "HELPDESK_STATE_DB_URL" not in config  # it carries a password
    ignored = (K8S / ".gitignore").read_text(encoding="utf-8").splitlines()
    _, secrets = generators()
    for gen in secrets.values():
        for f in gen["envs"]:
            assert f in ignored and (K8S / f.replace(".env", ".example.env")).is_file(), f


def test_config_env_values_parse_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(env_file(K8S / "config.env")):
        monkeypatch.delenv(key, raising=False)
    for key, value in env_file(K8S / "config.env").items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.slack_mode == "http" and s.http_host == "0.0.0.0" and s.admin_cookie_secure == "always"


def containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for name, dep in by_kind("Deployment").items():
        spec = dep["spec"]["template"]["spec"]
        for c in spec["containers"]:
            out.append((name, c, spec))
    return out


def test_deployments_run_the_split_roles() -> None:
    deps = by_kind("Deployment")
    web, scheduler = deps["helpdesk-bot-web"], deps["helpdesk-bot-scheduler"]
    [web_c] = web["spec"]["template"]["spec"]["containers"]
    [sched_c] = scheduler["spec"]["template"]["spec"]["containers"]
    assert parse_serve(web_c["args"]).role == "web" and web["spec"]["replicas"] >= 2
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert parse_serve(sched_c["args"]).role == "scheduler"
    assert scheduler["spec"]["replicas"] == 1 and scheduler["spec"]["strategy"]["type"] == "Recreate"
    images = {i["name"] for i in kustomization()["images"]}
    assert {web_c["image"], sched_c["image"]} <= images


def test_every_env_var_is_a_setting_and_every_secret_reference_exists() -> None:
    configmaps, secrets = generators()
    names, keys = setting_names(), secret_keys()
    for deployment, c, _ in containers():
        for e in c.get("env", []):
            assert e["name"] in names, f"{deployment}: {e['name']} is not a setting"
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == SECRET_NAME and ref["name"] in secrets, ref
                assert ref["key"] in keys, f"{deployment}: secret key {ref['key']} is not in secret.example.env"
                assert ref["key"] == e["name"]
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                assert src["configMapRef"]["name"] in configmaps
            else:
                assert src["secretRef"]["name"] == CREDENTIALS_NAME and CREDENTIALS_NAME in secrets
        assert len({e["name"] for e in c.get("env", [])}) == len(c.get("env", []))
    # The web role gets every secret it can use; the scheduler only what syncing needs.
    web_env = {e["name"] for d, c, _ in containers() if d == "helpdesk-bot-web" for e in c["env"]}
    assert keys <= web_env


def test_probes_point_at_real_routes_of_the_role_and_the_pods_run_unprivileged() -> None:
    for deployment, c, spec in containers():
        role = parse_serve(c["args"]).role
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"http": 3000}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = c[probe]["httpGet"]
            assert get["port"] in ports and get["path"] in role_paths(role), (deployment, probe, get)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["timeoutSeconds"] > Settings.model_fields["readiness_timeout_s"].default
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] == 10001 and spec["automountServiceAccountToken"] is False
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert set(mounts) == set(volumes) and mounts["data"] == env_file(K8S / "config.env")["HELPDESK_DATA_DIR"]
        configmaps, _ = generators()
        sources_file = Path(env_file(K8S / "config.env")["HELPDESK_SOURCES_FILE"])
        assert mounts["sources"] == str(sources_file.parent)
        cm = volumes["sources"]["configMap"]["name"]
        assert cm in configmaps and sources_file.name in configmaps[cm]["files"]


def test_service_ingress_pdb_and_autoscaler_point_at_the_web_pods() -> None:
    web = by_kind("Deployment")["helpdesk-bot-web"]
    pod_labels = web["spec"]["template"]["metadata"]["labels"]
    [service] = by_kind("Service").values()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert web["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [pdb] = by_kind("PodDisruptionBudget").values()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [hpa] = by_kind("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "helpdesk-bot-web" and hpa["spec"]["minReplicas"] >= 2
    port_names = {p["name"] for p in service["spec"]["ports"]}
    web_paths = role_paths("web")
    [ingress] = by_kind("Ingress").values()
    exposed = set()
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            backend = p["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"] and backend["port"]["name"] in port_names
            if p["pathType"] == "Exact":
                assert p["path"] in web_paths
            else:
                assert any(w == p["path"] or w.startswith(p["path"] + "/") for w in web_paths), p["path"]
            exposed.add(p["path"])
    assert exposed == {"/slack/events", "/webhooks", "/admin"}  # never /metrics or the probes
    assert any(w.startswith("/webhooks/") for w in web_paths)


def test_role_routes() -> None:
    assert role_paths("scheduler") == {"/healthz", "/readyz", "/metrics"}
    assert {"/healthz", "/readyz", "/metrics", "/admin", "/admin/login", "/slack/events",
            "/webhooks/zendesk"} <= role_paths("web")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (it bundles kustomize)")
def test_kustomize_builds(tmp_path: Path) -> None:
    work = tmp_path / "k8s"
    shutil.copytree(K8S, work)
    for example in work.glob("*.example.env"):
        shutil.copy(example, work / example.name.replace(".example.env", ".env"))
    out = subprocess.run(["kubectl", "kustomize", str(work)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["ConfigMap", "ConfigMap", "Secret", "Secret", "Service", "Deployment", "Deployment",
                            "PodDisruptionBudget", "Ingress"])
    names = {d["kind"]: set() for d in docs}
    for d in docs:
        names[d["kind"]].add(d["metadata"]["name"])
    # Generated names carry a content hash, and every reference to them was rewritten.
    [secret] = [n for n in names["Secret"] if n.startswith(SECRET_NAME + "-")]
    rendered = yaml.safe_dump(docs)
    assert f"name: {SECRET_NAME}\n" not in rendered and secret in rendered
    for d in docs:
        if d["kind"] == "Deployment":
            [c] = d["spec"]["template"]["spec"]["containers"]
            assert c["image"].startswith("registry.example.com/helpdesk-bot:")
            assert shlex.join(c["args"]).startswith("serve --role ")
