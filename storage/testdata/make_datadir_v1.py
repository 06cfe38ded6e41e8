# Writes storage/testdata/datadir-v1 with the fedstore build before WAL format 2 (main at
# bbf79a4): 20 series x 150 samples imported in 15 requests of 10 samples per series, then
# SIGTERM (a head snapshot, version 1 chunk files, version 1 WAL segments).
# Usage: python3 make_datadir_v1.py <old fedstore binary> <data dir> <port>
import subprocess, sys, time, urllib.request, os, signal, shutil
binary, data, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.rmtree(data, ignore_errors=True)
os.makedirs(data)
cfg = os.path.join(os.path.dirname(data), "empty.yml")
open(cfg, "w").write("scrape_configs: []\n")
p = subprocess.Popen([binary, "serve", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                      f"--web.listen-address=127.0.0.1:{port}"],
                     stderr=open(data + ".log", "w"))
url = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        if urllib.request.urlopen(url + "/-/ready").status == 200: break
    except Exception: time.sleep(0.1)
BASE = 1_700_000_000_000
def value(i, k):
    kind = i % 4
    if kind == 0: return float(1000 * i + 37 * k + (k * k) % 5)
    if kind == 1: return ((i * 7919 + k * 104729) % 100000) / 100
    if kind == 2: return (i * 1000 + k) / 3
    return float(42 + k // 30)
for req in range(15):
    lines = []
    for i in range(20):
        for k in range(req * 10, req * 10 + 10):
            lines.append(f'wal_v1_fixture{{series="{i}"}} {value(i, k)!r} {BASE + k * 15000}')
    body = ("\n".join(lines) + "\n").encode()
    r = urllib.request.urlopen(urllib.request.Request(url + "/api/v1/import/prometheus", data=body, method="POST"))
    assert r.status == 204, r.status
p.send_signal(signal.SIGTERM)
print("exit", p.wait())
