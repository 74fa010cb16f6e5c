#!/usr/bin/env bash
# //jobs:preprocess_sa1b on synthetic SA-1B tar shards: good pairs are written
# byte for byte, listed (train/val) and counted in the manifest; a bad JSON, an
# undecodable JPEG and a mask-area mismatch are reported and counted; a
# truncated tar fails its shard and leaves nothing; a rerun skips finished
# shards; the area filter drops masks; 2 ranks give the same output.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
job="$root/jobs/preprocess_sa1b"
tmp="$TEST_TMPDIR"
"$root/data/synthetic/make_synthetic_vos" --output_dir="$tmp/syn" --formats=sa1b --num_images=8 > /dev/null
s="$tmp/syn/sa1b"
mkdir -p "$tmp/tars" "$tmp/bad"
(cd "$s" && tar -cf "$tmp/tars/sa_000000.tar" sa_1.jpg sa_1.json sa_2.jpg sa_2.json sa_3.jpg sa_3.json)
(cd "$s" && tar -cf "$tmp/tars/sa_000001.tar" sa_4.jpg sa_4.json sa_5.jpg sa_5.json)
# A shard with problems: a bad JSON, an undecodable JPEG, a wrong area.
cp "$s"/sa_6.* "$s"/sa_7.* "$s"/sa_8.* "$tmp/bad/"
echo "{not json" > "$tmp/bad/sa_6.json"
head -c 200 "$s/sa_7.jpg" > "$tmp/bad/sa_7.jpg"
python3 - "$tmp/bad/sa_8.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["annotations"][0]["area"] += 5
json.dump(d, open(sys.argv[1], "w"))
PY
(cd "$tmp/bad" && tar -cf "$tmp/tars/sa_000002.tar" sa_6.jpg sa_6.json sa_7.jpg sa_7.json sa_8.jpg sa_8.json)
# A truncated shard.
head -c 9000 "$tmp/tars/sa_000001.tar" > "$tmp/tars/sa_000003.tar"

set +e
"$job" --input="$tmp/tars" --output_dir="$tmp/out" --val_fraction=0.4 > "$tmp/run.log" 2>&1
code=$?
set -e
[[ $code == 1 ]] || { cat "$tmp/run.log"; echo "FAIL: exit $code"; exit 1; }
grep -q "4 shards: 3 done, 0 already done, 1 failed" "$tmp/run.log" || { cat "$tmp/run.log"; exit 1; }
grep -q "sa_000003.tar: .*cut off\|sa_000003.tar: unreadable tar" "$tmp/run.log" || { cat "$tmp/run.log"; exit 1; }
grep -q "sa_000002.tar: sa_6.json: not JSON" "$tmp/run.log"
grep -q "sa_000002.tar: sa_7: " "$tmp/run.log"
grep -q "sa_000002.tar: sa_8.json: annotations\[0\]: area .* but the mask has" "$tmp/run.log"
for n in 1 2 3 4 5; do
  cmp "$s/sa_$n.jpg" "$tmp/out/sa_$n.jpg"
  cmp "$s/sa_$n.json" "$tmp/out/sa_$n.json"
done
[[ ! -e "$tmp/out/sa_6.jpg" && ! -e "$tmp/out/sa_7.jpg" ]]
test -f "$tmp/out/sa_8.json"  # its other annotations are kept
if ls -a "$tmp/out" | grep -q partial; then echo "FAIL: partial folder left"; exit 1; fi
[[ $(cat "$tmp/out/train_list.txt" "$tmp/out/val_list.txt" | wc -l) == 6 ]]
[[ -s "$tmp/out/train_list.txt" && -s "$tmp/out/val_list.txt" ]] || {
  echo "FAIL: --val_fraction=0.4 left a list empty"; cat "$tmp/out/"*_list.txt; exit 1; }
python3 - "$tmp/out/manifest.json" <<'PY'
import json, sys
m = {r["shard"]: r for r in json.load(open(sys.argv[1]))}
assert sorted(m) == ["sa_000000.tar", "sa_000001.tar", "sa_000002.tar"], m.keys()
assert m["sa_000000.tar"]["images"] == 3 and m["sa_000002.tar"]["images"] == 1, m
assert m["sa_000002.tar"]["images_dropped"] == 2 and len(m["sa_000002.tar"]["errors"]) == 3, m
PY

# A rerun skips the finished shards (and fails the truncated one again).
set +e
"$job" --input="$tmp/tars" --output_dir="$tmp/out" --val_fraction=0.4 > "$tmp/rerun.log" 2>&1
set -e
grep -q "4 shards: 0 done, 3 already done, 1 failed" "$tmp/rerun.log" || { cat "$tmp/rerun.log"; exit 1; }

# The area filter of SA1BRawDataset, applied here.
rm "$tmp/tars/sa_000002.tar" "$tmp/tars/sa_000003.tar"
"$job" --input="$tmp/tars" --output_dir="$tmp/filtered" --mask_area_frac_thresh=0.01 > "$tmp/filtered.log" 2>&1 || true
grep -q "dropped" "$tmp/filtered.log"
python3 - "$tmp/filtered/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert sum(r["annotations_dropped"] for r in m) > 0, m
PY

# --max_side: 96x128 images downsized to 48x64 with their masks.
"$job" --input="$tmp/tars" --output_dir="$tmp/small" --max_side=64 > "$tmp/small.log" 2>&1 || { cat "$tmp/small.log"; exit 1; }
file "$tmp/small/sa_1.jpg" | grep -q "64x48" || { file "$tmp/small/sa_1.jpg"; echo "FAIL: not downsized"; exit 1; }
python3 - "$tmp/small/sa_1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["image"]["height"] == 48 and d["image"]["width"] == 64, d["image"]
for a in d["annotations"]:
    assert a["segmentation"]["size"] == [48, 64], a["segmentation"]["size"]
    assert a["crop_box"] == [0, 0, 64, 48], a["crop_box"]
    assert 0 < a["area"] <= 48 * 64
PY

# 2 ranks: the same files and lists.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout 120 mpirun --oversubscribe --bind-to none --mca btl self,vader \
  --mca btl_vader_single_copy_mechanism none -np 2 "$job" --input="$tmp/tars" \
  --output_dir="$tmp/ranks" --val_fraction=0.4 > "$tmp/ranks.log" 2>&1 || { cat "$tmp/ranks.log"; exit 1; }
grep -q "2 shards: 2 done" "$tmp/ranks.log" || { cat "$tmp/ranks.log"; exit 1; }
for n in 1 2 3 4 5; do cmp "$tmp/out/sa_$n.json" "$tmp/ranks/sa_$n.json"; done
"$job" --input="$tmp/tars" --output_dir="$tmp/one" --val_fraction=0.4 > /dev/null 2>&1
cmp "$tmp/one/train_list.txt" "$tmp/ranks/train_list.txt"
cmp "$tmp/one/val_list.txt" "$tmp/ranks/val_list.txt"
echo PASS
