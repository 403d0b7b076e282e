"""make_review.py - write the benchmark's request: a realistic ~8 KB UPDATE AdmissionReview of a
provisioned BareMetalHost with hardware details, whose spec.image.url names a literal IP while
its stored status already points at httpd-http (the full decide-and-patch path)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration"))
import serverlib  # noqa: E402

ip_url = "http://172.22.0.1/images/rhcos-ootpa-latest.qcow2"
name_url = "http://httpd-http/images/rhcos-ootpa-latest.qcow2"
old = serverlib.make_host(url=name_url, status_url=name_url)
new = serverlib.make_host(url=ip_url, status_url=name_url)
new["metadata"]["uid"] = old["metadata"]["uid"]
new["status"] = old["status"]
# A bigger server than the default helper's: more NICs (two bonded pairs, BMC-side ports).
hw = old["status"]["hardware"]   # shared by old and new: the stored status
hw["nics"] += [dict(hw["nics"][0], name="ens%df0" % i, mac="3c:fd:fe:b4:%02x:10" % i,
                    ip="", pxe=False, speedGbps=25) for i in range(8)]
new["metadata"]["labels"] = {"cluster.x-k8s.io/cluster-name": "ocp-prod-1",
                             "infraenvs.agent-install.openshift.io": "ocp-prod-1"}
review = serverlib.make_review("UPDATE", new, old, uid="8c9b2f7e-3a4d-4e43-9d0c-6a2b7f1e5d11")
text = json.dumps(review, separators=(",", ":"))
with open(sys.argv[1], "w") as f:
    f.write(text)
print("bench review: %d bytes" % len(text))
