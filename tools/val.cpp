// SPDX-License-Identifier: MIT
// val — upstream YOLOv9 val.py on a data set: the mAP table for a weight file.
//
//   val --weights M.bin --data DATA.yaml [--img N] [--batch 32] [--conf 0.001] [--iou 0.7]
//       [--max-det 300] [--task val|test] [--json OUT.json] [--threads N]
//
// stdout: upstream's table (all + one row per class present in the labels), then the line
//   val: images=N instances=M P=0.xxxx R=0.xxxx mAP50=0.xxxx mAP50-95=0.xxxx
// stderr: warnings (left-out images, corrupt labels) and progress.
// Exit 0 on success, 2 for usage errors, 1 for everything else (one line on stderr). Images that
// cannot be read and corrupt label files are warned about and left out, as upstream does.
#include <yv9/io/atomic_file.hpp>
#include <yv9/io/json.hpp>
#include <yv9/yv9.hpp>

#include "cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

const char* kUsage =
    "usage: val --weights M.bin --data DATA.yaml [--img N] [--batch 32] [--conf 0.001] [--iou 0.7]\n"
    "           [--max-det 300] [--task val|test] [--json OUT.json] [--threads N]\n"
    "           [--precision fp32|bf16|auto]   (bf16: needs AVX512_BF16; auto: bf16 where the CPU has it)\n";

const yv9tool::ArgSpec kArgs = {
    /*values=*/{"--weights", "--data", "--img", "--batch", "--conf", "--iou", "--max-det", "--task", "--json", "--threads", "--precision"},
    /*flags=*/{},
    /*lists=*/{},
    /*aliases=*/{{"--conf-thres", "--conf"}, {"--iou-thres", "--iou"}, {"--imgsz", "--img"}, {"--img-size", "--img"}, {"--batch-size", "--batch"}},
    /*max_positional=*/0};

// upstream's row format: '%22s' + '%11i' * 2 + '%11.3g' * 4
std::string row(const std::string& name, long long images, long long instances, double p, double r, double m50, double m) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g\n", name.c_str(), images, instances, p, r, m50, m);
  return buf;
}

yv9::io::Json numbers(long long images, long long instances, double p, double r, double m50, double m) {
  yv9::io::Json j = yv9::io::Json::object();
  j.set("images", images).set("instances", instances).set("P", p).set("R", r).set("mAP50", m50).set("mAP50_95", m);
  return j;
}

int run(const yv9tool::Args& a) {
  if (!a.has("--weights") || !a.has("--data")) throw yv9::UsageError("--weights M.bin and --data DATA.yaml are required");
  yv9::vision::ValOptions o;
  o.img = a.get_int("--img", 32, 8192, o.img);
  o.batch = a.get_int("--batch", 1, 1024, 32);
  o.nms.conf_thres = a.get_double("--conf", 0, 1, 0.001);
  o.nms.iou_thres = a.get_double("--iou", 0, 1, 0.7);
  o.nms.max_det = a.get_int("--max-det", 1, 1000000, 300);
  o.threads = a.get_int("--threads", 0, 1024, 0);
  const std::string task = a.get("--task", "val");
  if (task != "val" && task != "test") throw yv9::UsageError("--task must be val or test, got '" + task + "'");

  const yv9::vision::DataConfig data = yv9::vision::load_data_config(a.get("--data"));
  for (const std::string& w : data.warnings) std::fprintf(stderr, "val: warning: %s\n", w.c_str());
  const std::vector<std::string>* split = data.split(task);
  if (!split) throw yv9::ConfigError(data.file + ": no '" + task + ":' entry (the images to validate on)");
  const std::vector<std::string> images = yv9::vision::list_images(*split);
  yv9::model::LoadOptions lo;
  lo.imgsz = a.has("--img") ? o.img : 0;  // convolution paths for this size (else the training size)
  if (a.has("--precision") && !yv9::model::precision_from_name(a.get("--precision"), lo.precision))
    throw yv9::UsageError("--precision must be fp32, bf16 or auto, got '" + a.get("--precision") + "'");
  const auto model = yv9::model::load_model<float>(a.get("--weights"), lo);
  if (!a.has("--img")) {  // the size the model was trained at, as detect does; upstream's 640 otherwise
    o.img = model.meta.imgsz > 0 ? model.meta.imgsz : 640;
    std::fprintf(stderr, "val: image size %d (%s; --img overrides)\n", o.img,
                 model.meta.imgsz > 0 ? "trained at this size, from the weight file" : "no training size in the weight file");
  }
  if (model.net.nc() != static_cast<std::int64_t>(data.names.size()))
    throw yv9::ConfigError(a.get("--weights") + " has " + std::to_string(model.net.nc()) + " classes, " + data.file + " " +
                           std::to_string(data.names.size()) + " (trained on a different data set?)");

  yv9::vision::ValCallbacks cb;
  cb.warn = [](const std::string& m) { std::fprintf(stderr, "val: warning: %s\n", m.c_str()); };
  cb.progress = [](std::size_t b, std::size_t nb, std::size_t done) {
    std::fprintf(stderr, "val: batch %zu/%zu (%zu images)\n", b, nb, done);
  };
  std::fprintf(stderr, "val: %s: %zu images listed in '%s:'\n", data.file.c_str(), images.size(), task.c_str());
  const yv9::vision::ValResult r = yv9::vision::validate(model, data.names, images, o, cb);
  const yv9::vision::ValCounts& c = r.counts;
  std::fprintf(stderr, "val: %zu images, %zu label files found (%zu empty), %zu without labels, %zu corrupt labels and %zu unreadable images left out, %zu duplicate rows dropped\n",
               c.listed, c.labels_found, c.labels_empty, c.labels_missing, c.corrupt_labels, c.unreadable_images, c.duplicate_rows);
  const yv9::vision::Metrics& m = r.metrics;
  if (r.instances == 0) std::fprintf(stderr, "val: warning: no labels found in the '%s' set, can not compute metrics without labels\n", task.c_str());

  std::string out;
  char head[256];
  std::snprintf(head, sizeof head, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95");
  out += head;
  out += row("all", r.images, r.instances, m.mp, m.mr, m.map50, m.map);
  yv9::io::Json js = yv9::io::Json::object();
  js.set("all", numbers(r.images, r.instances, m.mp, m.mr, m.map50, m.map));
  yv9::io::Json classes = yv9::io::Json::object();
  // Rows are named as upstream names them: by the model's class names, the data yaml's if it has none.
  const std::vector<std::string>& names = model.meta.names.size() == data.names.size() ? model.meta.names : data.names;
  for (const yv9::vision::ClassMetrics& cm : m.classes) {
    const std::string& name = names.at(static_cast<std::size_t>(cm.cls));
    if (names.size() > 1) out += row(name, r.images, cm.instances, cm.p, cm.r, cm.ap50, cm.ap);
    classes.set(name, numbers(r.images, cm.instances, cm.p, cm.r, cm.ap50, cm.ap));
  }
  char last[256];
  std::snprintf(last, sizeof last, "val: images=%lld instances=%lld P=%.4f R=%.4f mAP50=%.4f mAP50-95=%.4f\n",
                static_cast<long long>(r.images), static_cast<long long>(r.instances), m.mp, m.mr, m.map50, m.map);
  out += last;
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "val: %.1f s total, %.1f s in the network (%.1f ms per image, --img %d in rect batches, %d threads)\n", r.seconds_total,
               r.seconds_inference, r.images ? 1e3 * r.seconds_inference / static_cast<double>(r.images) : 0.0, r.input_size,
               yv9::resolve_threads(o.threads));

  if (a.has("--json")) {
    js.set("classes", classes);
    yv9::io::Json settings = yv9::io::Json::object();
    settings.set("weights", a.get("--weights")).set("data", a.get("--data")).set("task", task).set("img", r.input_size)
        .set("batch", o.batch).set("conf", o.nms.conf_thres).set("iou", o.nms.iou_thres).set("max_det", o.nms.max_det);
    js.set("settings", settings);
    yv9::io::Json counts = yv9::io::Json::object();
    counts.set("listed", c.listed).set("label_files", c.labels_found).set("empty_label_files", c.labels_empty)
        .set("without_labels", c.labels_missing).set("corrupt_labels", c.corrupt_labels)
        .set("unreadable_images", c.unreadable_images).set("duplicate_rows", c.duplicate_rows);
    js.set("dataset", counts);
    yv9::io::write_file_atomic(a.get("--json"), js.dump(1) + "\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return yv9tool::run_tool("val", [&] {
    const yv9tool::Args a = yv9tool::parse_args(kArgs, argc, argv);
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    return run(a);
  });
}
