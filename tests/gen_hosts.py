#!/usr/bin/python3
"""gen_hosts - N realistic, mixed BareMetalHosts for kube_double (tests and benchmarks).

usage: gen_hosts.py N [--seed S] [--format json|yaml] [--categories FILE] [-o FILE]
       import gen_hosts; gen_hosts.generate(n, seed) -> [host dict, ...]

The shape follows tests/data/metal3/examples/worker-0.yaml and the CRD
(metal3.io_baremetalhosts.yaml): spec.bmc/bootMACAddress/image/userData, and a status as the
operator writes it, with status.hardware (cpu, nics, storage) so that a host is about 8 KB.
Each host has the label gen.bmhguard.test/category (see CATEGORIES and tests/KUBE_DOUBLE.md).
With N >= len(CATEGORIES) every category occurs at least once. Output is deterministic per seed.
Hosts whose spec and status urls differ are generated paused: an unpaused one would be wiped by
the operator (and by kube_double's model of it) before any test could look at it.
"""

import argparse
import json
import random
import sys
import uuid

CATEGORY_LABEL = "gen.bmhguard.test/category"
PAUSED = "baremetalhost.metal3.io/paused"
REG_ERROR = "provisioned registration error"
GOOD_HOST = "httpd-http"
TRANSIENT = ["registering", "inspecting", "preparing", "provisioning", "deprovisioning",
             "powering off before delete", "deleting"]
# category -> weight (percent of the fleet)
CATEGORIES = {
    "registration-error": 30, "good": 23, "not-provisioned": 8, "externally-provisioned": 5,
    "foreign-pause": 5, "differ": 4, "half-runbook": 4, "half-bmhguard": 3, "no-image": 4,
}
CATEGORIES.update({"transient-" + s.replace(" ", "-"): 2 for s in TRANSIENT})

IP_FORMS = ["10.10.10.10", "172.22.0.1:8080", "[fd00::1]", "[fd00:1::5]:6180", "192.168.111.1"]
IMAGES = ["ubiquity-node-rocky9.qcow2", "ubiquity-hpc-rocky9.qcow2", "ubiquity-gpu-rocky9.qcow2",
          "rhcos-ootpa-latest.qcow2"]
NAMESPACES = [("metal3", 6), ("ubiquity", 3), ("default", 1)]
CPU_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts "
             "acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art "
             "arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni "
             "pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid "
             "dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand "
             "lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 invpcid_single intel_ppin ssbd mba "
             "ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid ept_ad "
             "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq "
             "rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw "
             "avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total "
             "cqm_mbm_local split_lock_detect wbnoinvd dtherm ida arat pln pts hwp hwp_act_window "
             "hwp_epp hwp_pkg_req avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq "
             "avx512_vnni avx512_bitalg tme avx512_vpopcntdq la57 rdpid fsrm md_clear pconfig "
             "flush_l1d arch_capabilities").split()
VENDORS = [("Dell Inc.", "PowerEdge R650 (SKU=0A5F;ModelName=PowerEdge R650)",
            "idrac-virtualmedia://%s/redfish/v1/Systems/System.Embedded.1"),
           ("HPE", "ProLiant DL360 Gen10 Plus", "redfish-virtualmedia://%s/redfish/v1/Systems/1"),
           ("Supermicro", "SYS-1029U-TN10RT", "ipmi://%s:623")]


def _hex(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def _mac(rng):
    h = "%012x" % rng.getrandbits(48)
    return ":".join(h[i:i + 2] for i in range(0, 12, 2))


def _ts(rng, day_offset=0):
    day = 1 + (rng.randrange(27) + day_offset) % 28
    return "2026-%02d-%02dT%02d:%02d:%02dZ" % (1 + rng.randrange(9), day, rng.randrange(24),
                                               rng.randrange(60), rng.randrange(60))


def pattern(seed):
    """The category sequence: every category once, then the weighted remainder shuffled."""
    rng = random.Random(seed * 7919 + 1)
    first = sorted(CATEGORIES)
    rest = [c for c, w in sorted(CATEGORIES.items()) for _ in range(w)]
    rng.shuffle(first)
    rng.shuffle(rest)
    return first + rest


def image(rng, host, img):
    url = "http://%s/images/%s" % (host, img)
    kind = rng.randrange(4)
    if kind == 0:
        return {"url": url, "checksum": url + ".md5sum", "checksumType": "md5"}
    if kind == 1:
        return {"url": url, "checksum": url + ".sha256sum", "checksumType": "sha256",
                "format": "qcow2"}
    if kind == 2:
        return {"url": url, "checksum": _hex(rng, 32)}
    return {"url": url, "checksum": _hex(rng, 64), "checksumType": "sha256", "format": "qcow2"}


def rehost(img, host):
    """The same image document served from another host (urls in url and checksum)."""
    out = dict(img)
    for k in ("url", "checksum"):
        v = out.get(k, "")
        if v.startswith("http://"):
            out[k] = "http://" + host + "/" + v[len("http://"):].split("/", 1)[1]
    return out


def hardware(rng, name):
    vendor, product, _ = VENDORS[rng.randrange(len(VENDORS))]
    nics = []
    for n in range(rng.choice((4, 6, 6, 8))):
        nics.append({
            "name": "eno%d" % (n + 1) if n < 2 else "ens%df%d" % (3 + n // 2, n % 2),
            "mac": _mac(rng), "model": "0x8086 0x%04x" % rng.choice((0x1572, 0x158b, 0x1593)),
            "pciAddress": "0000:%02x:00.%d" % (0x18 + n // 2, n % 2),
            "ip": ("172.22.%d.%d" % (rng.randrange(4), rng.randrange(2, 250))) if n == 0 else
                  ("fd00:1::%x" % rng.randrange(1, 4096) if n == 1 else ""),
            "speedGbps": rng.choice((10, 25, 100)), "vlanId": 0, "vlans": [], "pxe": n == 0,
            "lldp": {"portID": "Ethernet1/%d" % rng.randrange(1, 49),
                     "switchID": _mac(rng), "switchSystemName": "leaf-%02d" % rng.randrange(1, 9)},
        })
    storage = []
    for n in range(rng.choice((2, 3, 4, 6))):
        nvme = n >= 2
        dev = "/dev/nvme%dn1" % (n - 2) if nvme else "/dev/sd%s" % "ab"[n]
        path = "/dev/disk/by-path/pci-0000:%02x:00.0%s" % (0x3b + n, "-nvme-1" if nvme else
                                                             "-scsi-0:2:%d:0" % n)
        wwn = "0x5%s" % _hex(rng, 15)
        storage.append({
            "name": path, "alternateNames": [dev, path],
            "hctl": "" if nvme else "0:2:%d:0" % n, "model": rng.choice(
                ("PERC H755 Front", "MZ7L3960HCJR-00A07", "Dell Ent NVMe v2 AGN RI U.2 1.92TB")),
            "rotational": False, "serialNumber": _hex(rng, 20).upper(),
            "sizeBytes": rng.choice((479559942144, 960197124096, 1920383410176)),
            "type": "NVME" if nvme else "SSD", "vendor": rng.choice(("DELL", "Samsung", "Intel")),
            "wwn": wwn, "wwnWithExtension": wwn + _hex(rng, 16), "wwnVendorExtension": "0x" +
            _hex(rng, 16)})
    return {
        "cpu": {"arch": "x86_64", "clockMegahertz": float(rng.choice((2000, 2600, 3000))),
                "count": rng.choice((64, 96, 128)), "flags": CPU_FLAGS,
                "model": rng.choice(("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                                     "Intel(R) Xeon(R) Platinum 8358 CPU @ 2.60GHz"))},
        "firmware": {"bios": {"date": "03/14/2024", "vendor": vendor.split()[0],
                              "version": "2.%d.%d" % (rng.randrange(20), rng.randrange(10))}},
        "hostname": name, "nics": nics, "ramMebibytes": rng.choice((262144, 524288, 1048576)),
        "storage": storage,
        "systemVendor": {"manufacturer": vendor, "productName": product,
                         "serialNumber": _hex(rng, 7).upper()},
    }


def host(i, cat, rng):
    role = "master" if i % 20 == 0 else "worker"
    ns = rng.choices([n for n, _ in NAMESPACES], [w for _, w in NAMESPACES])[0]
    name = "%s-%05d" % (role, i)
    img_name = rng.choice(IMAGES)
    ip = rng.choice(IP_FORMS)
    lit = image(rng, ip, img_name)
    good = rehost(lit, GOOD_HOST)
    vendor = VENDORS[rng.randrange(len(VENDORS))]
    bmc_ip = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    created = _ts(rng)
    prov_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))

    state, spec_img, status_img, paused = "provisioned", lit, lit, None
    err_type, err_count, err_msg, op_status = None, 0, "", "OK"
    consumer = True
    if cat == "registration-error":
        err_type, err_count, op_status = REG_ERROR, rng.randrange(1, 6), "error"
    elif cat == "good":
        spec_img = status_img = good
    elif cat in ("not-provisioned", "no-image"):
        state, status_img, consumer = "available", {"url": ""}, False
        if cat == "no-image":
            spec_img = None
    elif cat == "externally-provisioned":
        state = "externally provisioned"
    elif cat == "foreign-pause":
        paused = rng.choice(("move", "move", "maintenance", ""))
        if rng.randrange(2):
            err_type, err_count, op_status = REG_ERROR, 1, "error"
    elif cat.startswith("transient-"):
        state = TRANSIENT[[("transient-" + s.replace(" ", "-")) for s in TRANSIENT].index(cat)]
        if state in ("registering", "inspecting", "preparing"):
            status_img, consumer = {"url": ""}, False
    elif cat == "differ":
        paused = "true"
        other = IMAGES[(IMAGES.index(img_name) + 1) % len(IMAGES)]
        spec_img = image(rng, rng.choice((ip, GOOD_HOST)), other)
        err_type, err_count, op_status = REG_ERROR, 1, "error"
    elif cat == "half-runbook":
        # runbook steps 3 and 6 done (paused, status fixed), step 7 not yet
        paused, status_img = "true", good
        err_type, err_count = REG_ERROR, 0
    elif cat == "half-bmhguard":
        # bmhguard paused and fixed status; spec (or only the unpause) still to do
        paused, status_img = "bmhguard-repair", good
        if rng.randrange(2):
            spec_img = good
        err_type, err_count = REG_ERROR, 0
    else:
        raise ValueError("unknown category %s" % cat)
    if err_type == REG_ERROR and err_count:
        err_msg = ("Host adoption failed: Error while attempting to adopt node %s: Validation of "
                   "image href %s failed, reason: Got HTTP code 404 instead of 200 in response "
                   "to HEAD request.." % (prov_id, status_img["url"]))

    labels = {CATEGORY_LABEL: cat, "role": role, "rack": "r%02d" % (1 + i % 12),
              "cluster.x-k8s.io/cluster-name": "ubiquity"}
    md = {"name": name, "namespace": ns, "labels": labels, "creationTimestamp": created,
          "finalizers": ["baremetalhost.metal3.io"],
          "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "generation": 2}
    if paused is not None:
        md["annotations"] = {PAUSED: paused}
    if state in ("powering off before delete", "deleting"):
        md["deletionTimestamp"] = _ts(rng, 1)
        md["deletionGracePeriodSeconds"] = 0
    spec = {"online": True,
            "bmc": {"address": vendor[2] % bmc_ip, "credentialsName": name + "-bmc-secret",
                    "disableCertificateVerification": True},
            "bootMACAddress": _mac(rng), "bootMode": "UEFI", "automatedCleaningMode": "metadata",
            "rootDeviceHints": {"deviceName": "/dev/sda"}}
    if spec_img is not None:
        spec["image"] = dict(spec_img)
        spec["userData"] = {"name": name + "-user-data", "namespace": ns}
        spec["networkData"] = {"name": name + "-network-data", "namespace": ns}
    if consumer:
        spec["consumerRef"] = {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                               "kind": "Metal3Machine", "name": "ubiquity-%s-%s" %
                               (role, _hex(rng, 5)), "namespace": ns}
    if state == "externally provisioned":
        spec["externallyProvisioned"] = True
    # Hosts are usually created with kubectl apply; the annotation keeps the original spec.
    applied = {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
               "metadata": {"labels": labels, "name": name, "namespace": ns},
               "spec": {k: v for k, v in spec.items() if k != "consumerRef"}}
    md.setdefault("annotations", {})[
        "kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(
            applied, sort_keys=True, separators=(",", ":")) + "\n"
    creds = {"credentials": {"name": name + "-bmc-secret", "namespace": ns},
             "credentialsVersion": str(rng.randrange(10000, 99999))}
    t0 = _ts(rng)
    status = {
        "errorCount": err_count, "errorMessage": err_msg, "goodCredentials": creds,
        "hardware": hardware(rng, name), "hardwareProfile": "unknown", "lastUpdated": _ts(rng),
        "operationHistory": {
            "deprovision": {},
            "inspect": {"end": t0, "start": t0},
            "provision": {"end": t0, "start": t0} if consumer else {},
            "register": {"end": t0, "start": t0}},
        "operationalStatus": op_status, "poweredOn": state != "available",
        "provisioning": {"ID": prov_id, "bootMode": "UEFI", "image": dict(status_img),
                         "rootDeviceHints": {"deviceName": "/dev/sda"}, "state": state},
        "provisioningFailCount": 0, "triedCredentials": creds,
    }
    if err_type:
        status["errorType"] = err_type
    return {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost", "metadata": md,
            "spec": spec, "status": status}


def generate(n, seed=1):
    """n hosts; with n >= len(CATEGORIES) every category occurs. Deterministic per seed."""
    pat = pattern(seed)
    rng = random.Random(seed)
    return [host(i, pat[i % len(pat)], rng) for i in range(n)]


def main(argv):
    p = argparse.ArgumentParser(prog="gen_hosts.py", description=__doc__.splitlines()[0])
    p.add_argument("count", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--format", choices=("json", "yaml"), default="json")
    p.add_argument("--categories", help="write a JSON map NAMESPACE/NAME -> category here")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    a = p.parse_args(argv)
    if a.count < 0:
        p.error("count must be >= 0")
    hosts = generate(a.count, a.seed)
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": hosts}
    if a.format == "yaml":
        import yaml
        text = yaml.safe_dump(doc, sort_keys=False)
    else:
        text = json.dumps(doc, separators=(",", ":")) + "\n"
    out = open(a.output, "w") if a.output else sys.stdout
    out.write(text)
    if a.output:
        out.close()
    if a.categories:
        with open(a.categories, "w") as f:
            json.dump({"%s/%s" % (h["metadata"]["namespace"], h["metadata"]["name"]):
                       h["metadata"]["labels"][CATEGORY_LABEL] for h in hosts}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
