import json, sys, os, tempfile, shutil
from helm_python.chart import Chart
cases = json.load(open(sys.argv[1]))
for c in cases:
    d = tempfile.mkdtemp()
    os.makedirs(d + "/templates")
    open(d + "/Chart.yaml", "w").write("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    for n, t in c.get("files", {}).items():
        open(d + "/templates/" + n, "w").write(t)
    open(d + "/templates/t.yaml", "w").write(c["t"])
    try:
        r = Chart.load(d).render(c.get("values", {}), name="rel", namespace="ns")
        c["expect"] = {"ok": r["c/templates/t.yaml"]}
    except Exception as e:
        c["expect"] = {"err": str(e)}
    shutil.rmtree(d)
json.dump(cases, open(sys.argv[2], "w"), indent=1, ensure_ascii=False)
