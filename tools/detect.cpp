// SPDX-License-Identifier: MIT
// detect — the main command-line tool: upstream detect.py on images, videos, cameras and streams,
// plus parity, summary and bench modes.
//
//   detect --weights M.bin --source SRC [--img N] [--conf 0.25] [--iou 0.45] [--max-det 1000]
//          [--classes C ...] [--agnostic-nms] [--square] [--out DIR] [--save-txt] [--save-conf] [--json]
//          [--jsonl] [--nosave] [--vid-stride N] [--shard K/N] [--stream-timeout S] [--threads N]
//                                                       upstream detect.py, same boxes; SRC: tools/sources.hpp
//                                                       --img defaults to the training size in the weight file
//   detect --config MODEL.yaml --summary                 upstream's per-layer table, last line "<N> parameters"
//   detect --weights M.bin --tensor IN.npy --raw OUT.npy parity mode: the tensor upstream feeds into NMS
//   detect --weights M.bin --bench [--img S|HxW] [--runs N] [--warmup W] [--threads T]
//   detect --config MODEL.yaml --bench ...               the same on synthetic weights
//   --conv auto|im2col|f2|f4|direct (any mode that runs a network): how 3x3 convolutions run (ops::ConvAlgo);
//   im2col keeps the smallest weights, auto (the default) takes per 3x3 layer the path measured fastest
//
// Every error is one line on stderr; exit 2 for usage errors, 1 for everything else.
#include <yv9/io/atomic_file.hpp>
#include <yv9/weights/synthetic.hpp>
#include <yv9/yv9.hpp>

#include "cli.hpp"
#include "pipeline.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* kUsage =
    "usage: detect --weights M.bin --source SRC [--img N] [--conf 0.25] [--iou 0.45] [--max-det 1000]\n"
    "              [--classes C ...] [--agnostic-nms] [--square] [--out DIR] [--save-txt] [--save-conf] [--json]\n"
    "              [--jsonl] [--nosave] [--vid-stride N] [--shard K/N] [--stream-timeout 10] [--threads N]\n"
    "         SRC: image, video, folder, glob, list.txt, - (paths on stdin), /dev/video0 or 0, rtsp/rtmp/udp/http(s) URL\n"
    "         --img: default = the training size stored in the weight file, else 640\n"
    "       detect --config MODEL.yaml --summary\n"
    "       detect --weights M.bin --tensor IN.npy --raw OUT.npy [--threads N]\n"
    "       detect (--weights M.bin | --config MODEL.yaml) --bench [--img S|HxW] [--runs N] [--warmup W] [--threads T]\n"
    "         any mode that runs a network: --conv auto|im2col|f2|f4|direct (default auto: per 3x3 layer the path\n"
    "         measured fastest for its channels and map; im2col: the smallest memory)\n"
    "         and --precision fp32|bf16|auto (default fp32; bf16: the GEMMs (convolutions, attention) on bfloat16 operands with\n"
    "         float32 accumulation, needs AVX512_BF16; auto: bf16 where the CPU has it)\n";

const yv9tool::ArgSpec kArgs = {
    /*values=*/{"--config", "--weights", "--tensor", "--raw", "--threads", "--img", "--runs", "--warmup", "--source", "--conf",
                "--iou", "--max-det", "--out", "--vid-stride", "--shard", "--stream-timeout", "--conv", "--precision"},
    /*flags=*/{"--summary", "--bench", "--agnostic-nms", "--square", "--save-txt", "--save-conf", "--json", "--jsonl", "--nosave"},
    /*lists=*/{"--classes"},
    /*aliases=*/{{"--conf-thres", "--conf"}, {"--iou-thres", "--iou"}, {"--imgsz", "--img"}, {"--img-size", "--img"}, {"--project", "--out"}},
    /*max_positional=*/0};

using yv9tool::Args;
using yv9tool::parse_double;
using yv9tool::parse_int;

// --conv: how the network's 3x3 convolutions run (default: YV9_CONV, else auto), chosen for
// images of side imgsz (0: the weight file's training size, else 640).
yv9::model::LoadOptions load_options(const Args& a, int imgsz = 0) {
  yv9::model::LoadOptions o;
  o.imgsz = imgsz;
  if (a.has("--conv") && !yv9::ops::conv_algo_from_name(a.get("--conv"), o.conv))
    throw yv9::UsageError("--conv must be auto, im2col, f2, f4 or direct, got '" + a.get("--conv") + "'");
  if (a.has("--precision") && !yv9::model::precision_from_name(a.get("--precision"), o.precision))
    throw yv9::UsageError("--precision must be fp32, bf16 or auto, got '" + a.get("--precision") + "'");
  return o;
}

int run_summary(const Args& a) {
  yv9::model::ModelConfig cfg = yv9::model::load_config(a.get("--config"));
  yv9::weights::Binder spec;
  auto m = yv9::model::build<float>(cfg, spec);
  std::string out = yv9::model::summary_header() + "\n";
  for (const auto& l : m.info) out += yv9::model::summary_row(l) + "\n";
  out += std::to_string(m.params) + " parameters\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

yv9::Context make_context(const Args& a) {
  yv9::Context ctx;
  ctx.threads = yv9::resolve_threads(a.get_int("--threads", 0, 1024, 0));
  return ctx;
}

int run_raw(const Args& a) {
  const yv9::Context ctx = make_context(a);
  yv9::Tensor<float> x = yv9::io::read_npy_f32(a.get("--tensor"));
  // convolution paths chosen for this tensor's size
  const int side = x.rank() == 4 ? static_cast<int>(std::min<std::int64_t>(std::max(x.dim(2), x.dim(3)), 8192)) : 0;
  auto model = yv9::model::load_model<float>(a.get("--weights"), load_options(a, side));
  // The file, not the command line, is wrong here: a FormatError (one line), not the network's
  // UsageError (exit 2, which says the command line is wrong).
  if (x.rank() != 4 || x.dim(0) < 1 || x.dim(1) != model.net.in_channels() || x.dim(2) < 1 || x.dim(3) < 1)
    throw yv9::FormatError(a.get("--tensor") + ": expected a [N, " + std::to_string(model.net.in_channels()) +
                           ", H, W] float32 tensor with N, H, W >= 1, got shape " + x.shape().str());
  yv9::Tensor<float> y = model.net.forward(x, ctx);
  const std::vector<std::uint8_t> bytes = yv9::io::npy_bytes_f32(y);
  yv9::io::write_file_atomic(a.get("--raw"), bytes.data(), bytes.size());
  return 0;
}

// "640" -> 640x640, "384x640" -> H=384, W=640
std::pair<int, int> parse_size(const std::string& s) {
  const auto x = s.find('x');
  if (x == std::string::npos) {
    const int v = parse_int(s, "--img", 32, 8192);
    return {v, v};
  }
  return {parse_int(s.substr(0, x), "--img height", 32, 8192), parse_int(s.substr(x + 1), "--img width", 32, 8192)};
}

double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

// Resident memory now (VmRSS), 0 where /proc is unavailable.
double rss_mb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

int run_bench(const Args& a) {
  const yv9::Context ctx = make_context(a);
  const auto [H, W] = parse_size(a.get("--img", "640"));
  const int runs = a.get_int("--runs", 1, 100000, 10);
  const int warmup = a.get_int("--warmup", 0, 100000, 1);
  const char* precision = yv9::model::precision_name(yv9::model::resolve_precision(load_options(a).precision));
  yv9::model::Network<float> net;
  std::string name;
  if (a.has("--weights")) {
    auto m = yv9::model::load_model<float>(a.get("--weights"), load_options(a, std::max(H, W)));
    net = std::move(m.net);
    name = m.meta.name;
  } else {
    const std::string cfg_path = a.get("--config");
    const yv9::weights::SyntheticSource src;
    yv9::weights::Binder syn(src);
    yv9::model::configure(syn, load_options(a, std::max(H, W)));
    net = yv9::model::Network<float>(yv9::model::build<float>(yv9::model::load_config(cfg_path), syn));
    std::string base = cfg_path.substr(cfg_path.find_last_of('/') + 1);
    name = base.substr(0, base.rfind('.'));
  }
  const double loaded_mb = rss_mb();  // the weights as loaded, before any activation
  yv9::Tensor<float> x(yv9::Shape{1, net.in_channels(), H, W});
  std::uint32_t state = 12345;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    x[i] = static_cast<float>(state >> 8) / 16777216.0f;
  }
  const std::vector<std::int64_t> macs = net.macs(x.shape());
  const std::vector<yv9::Shape> shapes = net.shapes(x.shape());
  std::vector<std::vector<double>> layer_secs(net.size());
  std::vector<double> totals;
  for (int r = 0; r < warmup + runs; ++r) {
    const bool keep = r >= warmup;
    const auto t0 = std::chrono::steady_clock::now();
    net.forward(x, ctx, [&](int i, const yv9::Tensor<float>&, double secs) {
      if (keep) layer_secs[static_cast<std::size_t>(i)].push_back(secs);
    });
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (keep) totals.push_back(secs);
  }
  const double min_s = *std::min_element(totals.begin(), totals.end()), med_s = median(totals);
  double layer_sum = 0;
  std::int64_t total_macs = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    layer_sum += median(layer_secs[i]);
    total_macs += macs[i];
  }
  std::printf("%5s %-42s %-20s %10s %7s %10s %9s\n", "layer", "module", "output", "ms(med)", "share", "GMAC", "GFLOP/s");
  std::map<std::string, std::pair<double, double>> by_type;  // type -> (seconds, macs)
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (!net.live(static_cast<int>(i))) continue;
    const double t = median(layer_secs[i]);
    const auto& info = net.info()[i];
    std::printf("%5zu %-42s %-20s %10.3f %6.1f%% %10.4f %9.1f\n", i, info.type.c_str(), shapes[i].str().c_str(), t * 1e3,
                100.0 * t / layer_sum, macs[i] * 1e-9, t > 0 ? 2.0 * macs[i] / t * 1e-9 : 0.0);
    auto& agg = by_type[info.type];
    agg.first += t;
    agg.second += static_cast<double>(macs[i]);
  }
  std::printf("\nper module type:\n");
  for (const auto& kv : by_type)
    std::printf("  %-42s %10.3f ms %6.1f%% %9.1f GFLOP/s\n", kv.first.c_str(), kv.second.first * 1e3,
                100.0 * kv.second.first / layer_sum, kv.second.first > 0 ? 2.0 * kv.second.second / kv.second.first * 1e-9 : 0.0);
  if (!net.dropped().empty()) {
    std::printf("dropped (do not feed the inference output):");
    for (int i : net.dropped()) std::printf(" %d", i);
    std::printf("\n");
  }
  std::printf("bench: model=%s img=%dx%d threads=%d precision=%s runs=%d min_ms=%.3f median_ms=%.3f peak_rss_mb=%.1f loaded_rss_mb=%.1f gflops=%.1f\n",
              name.c_str(), H, W, ctx.threads, precision, runs, min_s * 1e3, med_s * 1e3, peak_rss_mb(), loaded_mb, 2.0 * total_macs / min_s * 1e-9);
  return 0;
}

void make_dirs(const std::string& path) {
  std::string cur;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && !yv9tool::is_dir(cur) && ::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
        throw yv9::IoError(cur + ": cannot create the directory (" + std::strerror(errno) + ")");
    }
    if (i < path.size()) cur += path[i];
  }
}

std::string base_name(const std::string& p) { return p.substr(p.find_last_of('/') + 1); }

// "2 circles, 1 star, " as upstream prints counts (per class, in class order, naive plural 's').
std::string count_summary(const std::vector<yv9::vision::Detection>& det, const std::vector<std::string>& names) {
  std::map<int, int> n;
  for (const auto& d : det) ++n[d.cls];
  std::string s;
  for (const auto& kv : n) {
    const std::string& name = names.at(static_cast<std::size_t>(kv.first));
    s += std::to_string(kv.second) + " " + name + (kv.second > 1 ? "s" : "") + ", ";
  }
  return s;
}

// Set by SIGINT/SIGTERM: the producer stops reading, the consumer finishes the frame in hand and
// every output is finalized (videos closed and renamed, JSON complete).
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler stores to g_stop");
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  g_stop.store(true);        // lock-free, so safe in a signal handler
  std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process at once, should finalizing hang
}

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a dead encoder or a closed stdout is an error return, not death
}

// One JSON line per image or frame (--jsonl). "timings" comes last, so a consumer that compares
// runs can cut it off.
std::string jsonl_record(const yv9tool::Source& s, const yv9tool::Work& w, const std::vector<yv9::vision::Detection>& det,
                         const std::vector<std::string>& names, const yv9::vision::Timings& t, double latency_ms) {
  using yv9::vision::json_number;
  using yv9::vision::json_string;
  std::string j = "{\"id\": " + json_string(w.frame ? s.path + "#" + std::to_string(w.frame) : s.path) +
                  ", \"source\": " + json_string(s.path);
  if (w.frame) j += ", \"frame\": " + std::to_string(w.frame);
  j += ", \"width\": " + std::to_string(w.im.width) + ", \"height\": " + std::to_string(w.im.height) + ", \"detections\": [";
  for (std::size_t i = 0; i < det.size(); ++i) {
    const yv9::vision::Detection& d = det[i];
    j += (i ? ", " : "") + std::string("{\"class_id\": ") + std::to_string(d.cls) +
         ", \"name\": " + json_string(names.at(static_cast<std::size_t>(d.cls))) + ", \"confidence\": " + json_number(d.conf) +
         ", \"box\": [" + json_number(d.x1) + ", " + json_number(d.y1) + ", " + json_number(d.x2) + ", " + json_number(d.y2) + "]}";
  }
  j += "]";
  if (s.live()) j += ", \"dropped\": " + std::to_string(w.dropped);
  char tm[200];
  std::snprintf(tm, sizeof tm, "{\"decode_ms\": %.3f, \"preprocess_ms\": %.3f, \"inference_ms\": %.3f, \"nms_ms\": %.3f",
                w.decode_ms, w.preprocess_ms, t.inference_ms, t.nms_ms);
  j += ", \"timings\": " + std::string(tm);
  if (s.live()) j += ", \"latency_ms\": " + yv9::io::json_number(latency_ms);
  j += "}}\n";
  return j;
}

std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) throw yv9::UsageError("--shard must be K/N (e.g. 1/4), got '" + s + "'");
  const int n = parse_int(s.substr(slash + 1), "--shard N", 1, 1000000);
  const int k = parse_int(s.substr(0, slash), "--shard K", 1, n);
  return {k, n};
}

struct SourceStats {
  long frames = 0;
  std::vector<double> latency_ms;
};

int run_source(const Args& a) {
  yv9::vision::DetectorOptions o;
  o.square = a.has("--square");
  o.nms.conf_thres = a.get_double("--conf", 0, 1, 0.25);
  o.nms.iou_thres = a.get_double("--iou", 0, 1, 0.45);
  o.nms.max_det = a.get_int("--max-det", 1, 1000000, 1000);
  o.nms.agnostic = a.has("--agnostic-nms");
  for (const auto& c : a.list("--classes")) o.nms.classes.push_back(parse_int(c, "--classes", 0, 1000000));
  o.threads = a.get_int("--threads", 0, 1024, 0);
  yv9tool::ProducerOptions po;
  po.vid_stride = a.get_int("--vid-stride", 1, 1000000, 1);
  po.stream_timeout_s = a.get_double("--stream-timeout", 0.1, 86400, 10);
  const bool jsonl = a.has("--jsonl");
  std::FILE* progress = jsonl ? stderr : stdout;  // stdout carries the JSON lines then
  o.img = a.get_int("--img", 32, 8192, o.img);
  std::vector<yv9tool::Source> sources = yv9tool::list_sources(a.get("--source"));
  if (a.has("--shard")) {
    const auto [k, n] = parse_shard(a.get("--shard"));
    sources = yv9tool::shard(std::move(sources), k, n);
  }
  auto model = yv9::model::load_model<float>(a.get("--weights"), load_options(a, a.has("--img") ? o.img : 0));
  if (!a.has("--img")) {
    o.img = model.meta.imgsz > 0 ? model.meta.imgsz : 640;
    if (model.meta.imgsz > 0) std::fprintf(progress, "image size %d (trained at this size, from the weight file; --img overrides)\n", o.img);
  }
  const yv9::vision::Detector det(std::move(model), o);
  const std::string out = a.get("--out", "runs/detect");
  const bool save_img = !a.has("--nosave"), save_txt = a.has("--save-txt"), save_conf = a.has("--save-conf");
  make_dirs(out);
  if (save_txt) make_dirs(out + "/labels");

  install_stop_handlers();
  yv9tool::Channel<yv9tool::Work> queue(2);
  yv9tool::Producer producer(sources, det, po, queue, g_stop);
  std::thread producer_thread([&] { producer.run(); });

  std::vector<std::string> json;
  int failed = 0;
  std::size_t images_ok = 0, frames_done = 0;
  yv9::vision::Timings total;
  std::unique_ptr<yv9tool::VideoWriter> writer;
  std::size_t writer_src = 0;
  SourceStats stats;
  const std::string n_src = std::to_string(sources.size());
  const auto t_start = yv9tool::Clock::now();

  auto close_video = [&](const yv9tool::Source& s) {
    if (!writer) return;
    try {
      writer->finish();
      std::fprintf(progress, "%s: %ld frames -> %s/%s.mp4 (%s)\n", s.path.c_str(), writer->frames(), out.c_str(),
                   yv9tool::output_stem(s).c_str(), writer->codec().c_str());
    } catch (const yv9::Error& e) {
      ++failed;
      std::fprintf(stderr, "%s\n", e.what());
    }
    writer.reset();
  };

  // A video source is done (or interrupted): its file finalized, a live source's tally printed.
  auto finish_video = [&](std::size_t src, long dropped) {
    const yv9tool::Source& s = sources[src];
    if (writer) close_video(sources[writer_src]);
    if (s.live() && stats.frames > 0) {
      const std::vector<double>& l = stats.latency_ms;
      std::fprintf(progress, "%s: %ld frames processed, %ld dropped, latency median %.1f ms, max %.1f ms\n", s.path.c_str(),
                   stats.frames, dropped, median(l), l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
    }
    stats = SourceStats();
  };
  std::size_t current = sources.size();  // the video source whose frames are in flight
  long current_dropped = 0;

  try {
    yv9tool::Work w;
    while (!g_stop.load() && queue.pop(w)) {
      const yv9tool::Source& s = sources[w.src];
      const std::string idx = std::to_string(w.src + 1) + "/" + n_src;
      if (w.end) {
        if (s.video()) finish_video(w.src, w.dropped);
        current = sources.size();
        if (!w.error.empty()) {
          ++failed;
          if (s.video()) std::fprintf(stderr, "%s\n", w.error.c_str());
          else std::fprintf(stderr, "image %s %s: skipped: %s\n", idx.c_str(), s.path.c_str(), w.error.c_str());
        }
        continue;
      }
      current = s.video() ? w.src : sources.size();
      yv9::vision::DetectionResult r;
      const auto t0 = yv9tool::Clock::now();
      const yv9::Tensor<float> pred = det.forward(w.x);
      const auto t1 = yv9tool::Clock::now();
      r.detections = det.postprocess(pred, w.geometry);
      r.geometry = w.geometry;
      r.timings = {w.preprocess_ms, yv9tool::ms_between(t0, t1), yv9tool::ms_between(t1, yv9tool::Clock::now())};
      yv9::vision::round_boxes(r.detections);  // detect.py rounds before drawing and saving
      const std::string stem = yv9tool::output_stem(s);
      if (save_img) {
        yv9::vision::draw_detections(w.im, r.detections, det.names());
        if (!s.video()) {
          const std::string ext = yv9::vision::detail::lower_extension(s.path);
          yv9::vision::write_image(out + "/" + (ext == "bmp" ? stem + ".png" : base_name(s.path)), w.im);
        } else {
          if (writer && writer_src != w.src) close_video(sources[writer_src]);
          if (!writer) {
            writer = std::make_unique<yv9tool::VideoWriter>(out + "/" + stem + ".mp4", w.im.width, w.im.height, w.fps);
            writer_src = w.src;
          }
          writer->write(w.im);
        }
      }
      if (save_txt)
        yv9::vision::write_yolo_labels(out + "/labels/" + stem + (w.frame ? "_" + std::to_string(w.frame) : "") + ".txt",
                                       r.detections, w.im.width, w.im.height, save_conf);
      const double latency = yv9tool::ms_between(w.captured, yv9tool::Clock::now());
      if (a.has("--json"))
        json.push_back(yv9::vision::detections_json(w.frame ? s.path + "#" + std::to_string(w.frame) : s.path, w.im.width,
                                                    w.im.height, r.detections, det.names()));
      if (jsonl) {
        const std::string line = jsonl_record(s, w, r.detections, det.names(), r.timings, latency);
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
      }
      std::string prefix;
      if (!s.video()) prefix = "image " + idx + " " + s.path + ": ";
      else if (!s.live())
        prefix = "video " + idx + " (frame " + std::to_string(w.frame) + "/" + (w.total ? std::to_string(w.total) : "?") + ") " + s.path + ": ";
      else prefix = "stream " + idx + " (frame " + std::to_string(w.frame) + ") " + s.path + ": ";
      std::string extra;
      if (s.live()) {
        char b[96];
        std::snprintf(b, sizeof b, " latency %.1fms, dropped %ld", latency, w.dropped);
        extra = b;
        stats.latency_ms.push_back(latency);
      }
      std::fprintf(progress, "%s%dx%d %s%s(preprocess %.1fms, inference %.1fms, NMS %.1fms)%s\n", prefix.c_str(), r.geometry.out_h,
                   r.geometry.out_w, count_summary(r.detections, det.names()).c_str(), r.detections.empty() ? "(no detections), " : "",
                   r.timings.preprocess_ms, r.timings.inference_ms, r.timings.nms_ms, extra.c_str());
      std::fflush(progress);
      if (s.video()) ++stats.frames;
      current_dropped = w.dropped;
      (s.video() ? frames_done : images_ok) += 1;
      total.preprocess_ms += r.timings.preprocess_ms;
      total.inference_ms += r.timings.inference_ms;
      total.nms_ms += r.timings.nms_ms;
    }
  } catch (...) {
    g_stop = true;  // stop the producer, then finalize what exists and report
    queue.close();
    producer_thread.join();
    if (current < sources.size()) finish_video(current, current_dropped);
    throw;
  }
  queue.close();
  producer_thread.join();
  if (current < sources.size()) finish_video(current, current_dropped);  // interrupted mid-video
  const double wall_s = std::chrono::duration<double>(yv9tool::Clock::now() - t_start).count();
  if (a.has("--json")) {
    std::string doc = "[\n";
    for (std::size_t i = 0; i < json.size(); ++i) doc += json[i] + (i + 1 < json.size() ? ",\n" : "");
    doc += "]\n";
    yv9::io::write_file_atomic(out + "/detections.json", doc);
  }
  const std::size_t done = images_ok + frames_done;
  if (done) {
    std::fprintf(progress, "Speed: %.1fms preprocess, %.1fms inference, %.1fms NMS per image (%d threads)\n", total.preprocess_ms / done,
                 total.inference_ms / done, total.nms_ms / done, yv9::resolve_threads(o.threads));
    std::fprintf(progress, "Throughput: %zu images/frames in %.2f s = %.2f images/s (decoding and letterboxing overlap inference)\n",
                 done, wall_s, done / wall_s);
  }
  std::fprintf(progress, "Results saved to %s (%zu images, %zu video frames)\n", out.c_str(), images_ok, frames_done);
  if (g_signal) {
    std::fprintf(stderr, "detect: stopped by %s; outputs so far finalized\n", g_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + g_signal;
  }
  return failed ? 1 : 0;
}
}  // namespace

int main(int argc, char** argv) {
  return yv9tool::run_tool("detect", [&] {
    const Args a = yv9tool::parse_args(kArgs, argc, argv);
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    yv9::model::resolve_precision(load_options(a).precision);  // a bad --conv or --precision: refused before any work
    if (a.has("--summary")) {
      if (!a.has("--config")) throw yv9::UsageError("--summary needs --config MODEL.yaml");
      return run_summary(a);
    }
    if (a.has("--bench")) {
      if (a.has("--weights") == a.has("--config")) throw yv9::UsageError("--bench needs exactly one of --weights M.bin or --config MODEL.yaml");
      return run_bench(a);
    }
    if (a.has("--source")) {
      if (!a.has("--weights")) throw yv9::UsageError("--source needs --weights M.bin");
      return run_source(a);
    }
    if (a.has("--tensor") || a.has("--raw")) {
      if (!a.has("--weights") || !a.has("--tensor") || !a.has("--raw"))
        throw yv9::UsageError("parity mode needs --weights M.bin --tensor IN.npy --raw OUT.npy");
      return run_raw(a);
    }
    throw yv9::UsageError("nothing to do");
  });
}
