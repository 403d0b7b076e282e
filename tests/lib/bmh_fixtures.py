"""bmh_fixtures - real BareMetalHost objects (from tests/data/metal3/examples) in the states the
tests need, and AdmissionReview envelopes around them. Standard library + python3-yaml only."""
import copy
import json
import os
import uuid

import yaml

import testenv  # noqa: E402 (tests/lib, beside this file)

TOP = testenv.TOP
EXAMPLES = testenv.EXAMPLES
CRD = testenv.BMH_CRD
# A test importing this module with the reference data missing stops here, naming the file.
testenv.need_files(EXAMPLES, os.path.join(EXAMPLES, "worker-0.yaml"), CRD)

OLD_URL = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
OLD_SUM = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2.md5sum"
NEW_URL = "http://httpd-http/images/ubiquity-node-rocky9.qcow2"
NEW_SUM = "http://httpd-http/images/ubiquity-node-rocky9.qcow2.md5sum"
REG_ERROR = ("Host adoption failed: Error while attempting to adopt node "
             "7a8d8aa7-e39d-48ec-98c1-ed05eacc354f: Validation of image href " + OLD_URL +
             " failed, reason: Got HTTP code 404 instead of 200 in response to HEAD request..")


def example_hosts():
    """Every BareMetalHost document in the Metal3 examples, as dicts."""
    hosts = []
    for name in sorted(os.listdir(EXAMPLES)):
        with open(os.path.join(EXAMPLES, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc.get("kind") == "BareMetalHost":
                    hosts.append(doc)
    return hosts


def base_host():
    """worker-0 from the examples: a real host with spec.image."""
    for h in example_hosts():
        if h["metadata"]["name"] == "worker-0":
            return copy.deepcopy(h)
    raise RuntimeError("worker-0 not found in " + EXAMPLES)


def hardware(nics=4, disks=4):
    """Hardware details of the size inspection records (what makes real hosts ~8 KB)."""
    return {
        "cpu": {"arch": "x86_64", "model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                "clockMegahertz": 2593.992, "flags": ["fpu", "vme", "de", "pse", "tsc", "msr",
                "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "avx2",
                "avx512f", "sha_ni", "vmx"], "count": 64},
        "firmware": {"bios": {"date": "03/29/2022", "vendor": "Dell Inc.", "version": "1.6.5"}},
        "hostname": "master-2",
        "nics": [{"ip": "172.22.0.%d" % (10 + i), "mac": "00:1a:74:74:e5:%02x" % i,
                  "model": "0x8086 0x1572", "name": "ens%df0" % i, "pxe": i == 0,
                  "speedGbps": 25, "vlanId": 0} for i in range(nics)],
        "ramMebibytes": 524288,
        "storage": [{"name": "/dev/sd%s" % chr(97 + i), "rotational": False,
                     "serialNumber": "S4YNNE0R%06d" % i, "sizeBytes": 1920383410176,
                     "vendor": "ATA", "model": "SAMSUNG MZ7LH1T9", "hctl": "0:0:%d:0" % i,
                     "type": "SSD", "wwn": "0x5002538e%08x" % i,
                     "alternateNames": ["/dev/disk/by-path/pci-0000:18:00.0-ata-%d" % i]}
                    for i in range(disks)],
        "systemVendor": {"manufacturer": "Dell Inc.", "productName": "PowerEdge R650",
                         "serialNumber": "7XJ2KQ3"},
    }


def host(name="master-2", namespace="default", spec_url=OLD_URL, spec_sum=OLD_SUM,
         status_url=None, status_sum=None, state=None, error_type="", error_message="",
         error_count=0, annotations=None, with_hardware=True):
    """A BareMetalHost built on worker-0. status_url None = no status at all."""
    h = base_host()
    h["metadata"]["name"] = name
    h["metadata"]["namespace"] = namespace
    h["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, namespace + "/" + name))
    h["metadata"]["resourceVersion"] = "1000"
    if annotations:
        h["metadata"]["annotations"] = dict(annotations)
    h["spec"]["image"] = {}
    if spec_url is not None:
        h["spec"]["image"]["url"] = spec_url
    if spec_sum is not None:
        h["spec"]["image"]["checksum"] = spec_sum
    if status_url is not None or state is not None:
        st = {
            "errorCount": error_count, "errorMessage": error_message, "errorType": error_type,
            "goodCredentials": {"credentials": {"name": h["spec"]["bmc"]["credentialsName"],
                                                "namespace": namespace},
                                "credentialsVersion": "8123"},
            "hardwareProfile": "unknown",
            "lastUpdated": "2026-11-20T09:15:00Z",
            "operationalStatus": "OK" if not error_type else "error",
            "poweredOn": True,
            "provisioning": {"ID": "7a8d8aa7-e39d-48ec-98c1-ed05eacc354f",
                             "bootMode": "UEFI", "image": {},
                             "rootDeviceHints": {"deviceName": "/dev/sda"},
                             "state": state or "provisioned"},
            "operationHistory": {
                "deprovision": {"end": None, "start": None},
                "inspect": {"end": "2026-03-01T10:00:00Z", "start": "2026-03-01T09:50:00Z"},
                "provision": {"end": "2026-03-01T10:30:00Z", "start": "2026-03-01T10:05:00Z"},
                "register": {"end": "2026-03-01T09:50:00Z", "start": "2026-03-01T09:49:00Z"}},
        }
        if status_url is not None:
            st["provisioning"]["image"]["url"] = status_url
        if status_sum is not None:
            st["provisioning"]["image"]["checksum"] = status_sum
        if with_hardware:
            st["hardware"] = hardware()
        h["status"] = st
    return h


def review(operation, obj, old=None, uid=None, kind="BareMetalHost", group="metal3.io",
           sub_resource=None):
    """An admission.k8s.io/v1 AdmissionReview as the API server sends it."""
    req = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1alpha1", "kind": kind},
        "resource": {"group": group, "version": "v1alpha1", "resource": "baremetalhosts"},
        "requestKind": {"group": group, "version": "v1alpha1", "kind": kind},
        "requestResource": {"group": group, "version": "v1alpha1", "resource": "baremetalhosts"},
        "name": obj["metadata"]["name"] if obj else "",
        "namespace": obj["metadata"].get("namespace", "default") if obj else "default",
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:metal3:baremetal-operator",
                     "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": "CreateOptions" if operation == "CREATE" else "UpdateOptions",
                    "apiVersion": "meta.k8s.io/v1"},
    }
    if sub_resource:
        req["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def provisioned_update(spec_url=OLD_URL, status_url=OLD_URL, **kw):
    """UPDATE of a provisioned host (the operator's frequent status-bearing writes)."""
    old = host(spec_url=status_url, status_url=status_url, status_sum=OLD_SUM, **kw)
    new = copy.deepcopy(old)
    new["spec"]["image"]["url"] = spec_url
    return review("UPDATE", new, old)


def bench_update_review():
    """The benchmark's request: an operator UPDATE of a provisioned host with hardware details,
    finalizers and labels as a live cluster has them, still on the literal URL (withhold path).
    About 8 KB as the API server sends it (compact JSON)."""
    rev = provisioned_update()
    for o in (rev["request"]["object"], rev["request"]["oldObject"]):
        o["metadata"]["finalizers"] = ["baremetalhost.metal3.io"]
        o["metadata"]["labels"] = {"cluster.x-k8s.io/cluster-name": "prod-east",
                                   "infraenv": "prod-east-workers"}
        o["metadata"]["generation"] = 3
        o["metadata"]["creationTimestamp"] = "2026-03-01T09:48:51Z"
    rev["request"]["uid"] = "9b0c4d7e-2f1a-4c55-8e0b-6f2d3a1c9e77"
    return rev


def seed_reviews():
    """(name, review) pairs covering every decision branch, for the review fuzzer's corpus.
    Hardware details are left out to keep each seed small."""
    st = json.dumps({"provisioning": {"image": {"url": OLD_URL, "checksum": OLD_SUM}},
                     "hardware": {"cpu": {"clockMegahertz": 2593.992}}, "big": 2 ** 70})
    upd = lambda **kw: provisioned_update(with_hardware=False, **kw)  # noqa: E731
    repaired = upd(status_url=NEW_URL)
    repaired["request"]["object"]["spec"]["image"]["url"] = OLD_URL
    return [
        ("create", review("CREATE", host(with_hardware=False), uid="c1")),
        ("create-annotation", review("CREATE", host(annotations={
            "baremetalhost.metal3.io/status": st}), uid="c2")),
        ("create-optout", review("CREATE", host(annotations={
            "bmhguard.io/rewrite": "disabled"}), uid="c3")),
        ("create-ipv6", review("CREATE", host(spec_url="http://[fd00::1%25eth0]:8080/i.qcow2",
                                              spec_sum="97830b21ed272a3d854615beb54cf004"),
                               uid="c4")),
        ("update-withhold", upd()),
        ("update-image-change", upd(spec_url="http://10.10.10.10/images/other.qcow2")),
        ("update-repaired", repaired),
        ("update-no-status", review("UPDATE", host(), host(), uid="u4")),
        ("status-subresource", review("UPDATE", host(), host(), uid="s1",
                                      sub_resource="status")),
        ("delete", review("DELETE", None, host(), uid="d1")),
        ("other-kind", review("CREATE", host(), uid="k1", kind="Secret", group="")),
    ]


def seed_urls():
    """URLs for the URL fuzzer's corpus: every literal form, look-alike names, oddities."""
    return [
        "http://10.10.10.10/images/a.qcow2", "https://10.10.10.10:8443/a?b=c#d",
        "http://10.10.10.10./a", "http://10.1/a", "http://10.10.2570/a", "http://0x0a.0.0.1/a",
        "http://0x0A0A0A0A/a", "http://012.0.0.1/a", "http://168430090/a", "http://0/a",
        "http://4294967295/a", "http://4294967296/a", "http://255.255.255.255:65535/",
        "HTTP://10.10.10.10/A", "hTTps://127.0.0.1", "http://user:pw@10.10.10.10:80/a",
        "http://u%40x@10.0.0.1/", "http://@10.0.0.1/", "http://a@b@10.0.0.1/",
        "http://[fd00::10]/a", "http://[fd00::10]:6180/a", "http://[::1]/",
        "http://[::ffff:10.10.10.10]/a", "http://[fe80::1%25eth0]:8080/a",
        "http://[2001:db8:0:0:0:0:0:1]/a", "http://[v1.fe80::a+en1]/", "http://[fd00::zz]/",
        "http://httpd-http/images/a.qcow2", "http://httpd-http:6180/a",
        "http://1host.example/a", "http://10.10.10.10.nip.io/a", "http://10.10.10.256/a",
        "http://10.10.10.10..//a", "ftp://10.10.10.10/a", "oci://10.10.10.10/i:latest",
        "file:///10.10.10.10/a", "http:/10.10.10.10/a", "http://10.10.10.10:/a",
        "http://10.10.10.10:99999/a", "http://10.0.0.1/images/%2e%2e/x?q=http://10.0.0.2/#f",
        "http://10.0.0.1\\evil/a", "http://10.0.0.1 /a", "not a url", "",
    ]


if __name__ == "__main__":
    import sys
    what = sys.argv[1] if len(sys.argv) > 1 else "create"
    if what == "create":
        print(json.dumps(review("CREATE", host(), uid="705ab4f5-6393-11e8-b7cc-42010a800002"),
                         indent=2))
    elif what == "update":
        print(json.dumps(provisioned_update(), indent=2))
