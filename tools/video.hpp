// SPDX-License-Identifier: MIT
// Video in and out for the detect tool, through Debian's `ffmpeg` executable on pipes.
//
// Why a child process and not libav*: nothing to link (the engine and the tool build and run
// without FFmpeg; a video source then fails with one line naming the package), FFmpeg's ABI churn
// stays out of our build, and a hostile file that crashes a demuxer or decoder kills a child whose
// exit status we report, not the detector. The cost is one copy of each frame through a pipe
// (about 1 ms per 640x480 frame, small against a forward pass).
//
// Children are started with posix_spawnp and an argv array (never a shell: source names and URLs
// are untrusted strings), in their own process group (a Ctrl-C in the terminal reaches only us, and
// we decide how they stop), with SIGINT/SIGTERM/SIGPIPE at their defaults.
//
// Decoding: ffmpeg writes one binary PPM per frame to stdout:
//     "P6\n<width> <height>\n255\n" then width*height*3 bytes, RGB
// i.e. rgb24 raw video with a short header per frame that re-states the size, so the framing is
// checked on every frame (a desynchronised pipe cannot go unnoticed) and parsed with bounds
// (yv9::vision::ImageLimits) before any pixel memory exists. A source whose frame size changes
// mid-way is scaled by ffmpeg to the first size (ffmpeg 5.1's encoders keep their first size even
// with -autoscale 0, writing garbage); ffmpeg logs (at verbose level) each reconfiguration of its
// filter graph with the new input size, which is how we notice the change and stop with one line.
// (The `showinfo` filter would give every frame's size, but costs ~1.5 ms per 640x480 frame.)
// Frame rate and duration come from ffmpeg's own stream report on stderr (-loglevel
// repeat+level+verbose prefixes every line with its level, so errors are told apart from chatter;
// verbose adds a few dozen lines per file, none per frame).
//
// Encoding: rgb24 frames are piped into `ffmpeg -f rawvideo ... -c:v libx264` (mpeg4 when the
// installed ffmpeg has no libx264) writing a temporary file that is renamed over <out>/<stem>.mp4
// only after the encoder exited cleanly: the final name only ever holds a complete, playable file.
#pragma once
#include <yv9/core/error.hpp>
#include <yv9/vision/image.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

namespace yv9tool {

inline const char* kFfmpegMissing =
    "needs the ffmpeg executable, which is not installed (Debian: apt-get install ffmpeg, or tools/setup-debian.sh)";

// A child process with pipes on the requested standard streams.
class Child {
 public:
  struct Pipes {
    bool in = false, out = false, err = false;
  };
  Child() = default;
  Child(const std::vector<std::string>& argv, Pipes p) { start(argv, p); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    close_fd(in_);
    close_fd(out_);
    close_fd(err_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  int in() const { return in_; }
  int out() const { return out_; }
  int err() const { return err_; }
  void close_in() { close_fd(in_); }
  bool running() const { return pid_ > 0; }

  // Exit status as a shell reports it (128 + signal), waiting for the child to end.
  int wait() {
    if (pid_ <= 0) return status_;
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }
  void kill(int sig = SIGKILL) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  void start(const std::vector<std::string>& argv, Pipes p) {
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    auto make = [](int fds[2]) {
      if (::pipe2(fds, O_CLOEXEC) != 0) throw yv9::IoError(std::string("pipe: ") + std::strerror(errno));
    };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    auto cleanup = [&] {
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&at);
      for (int* f : {pin, pout, perr})
        for (int k = 0; k < 2; ++k)
          if (f[k] >= 0) ::close(f[k]);
    };
    try {
      if (p.in) make(pin);
      if (p.out) make(pout);
      if (p.err) make(perr);
    } catch (...) {
      cleanup();
      throw;
    }
    // dup2 onto 0/1/2 clears close-on-exec on the copy; everything else we hold is O_CLOEXEC.
    if (p.in) posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (p.out) posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (p.err) posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    else posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGPIPE}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &fa, &at, args.data(), environ);
    if (rc != 0) {
      cleanup();
      if (rc == ENOENT) throw yv9::IoError(argv[0] + " not found");
      throw yv9::IoError("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    pid_ = pid;
    in_ = pin[1], out_ = pout[0], err_ = perr[0];
    pin[1] = pout[0] = perr[0] = -1;
    cleanup();  // the child's ends
  }

  pid_t pid_ = -1;
  int status_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
};

inline bool ffmpeg_installed() {
  static const bool found = [] {
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    std::size_t b = 0;
    while (b <= p.size()) {
      std::size_t e = p.find(':', b);
      if (e == std::string::npos) e = p.size();
      const std::string dir = e > b ? p.substr(b, e - b) : ".";
      if (::access((dir + "/ffmpeg").c_str(), X_OK) == 0) return true;
      b = e + 1;
    }
    return false;
  }();
  return found;
}

// Collects a child's stderr lines; keeps the last error and the stream facts we need.
class FfmpegLog {
 public:
  void feed(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (p[i] == '\n' || p[i] == '\r') {
        if (!line_.empty()) take(line_);
        line_.clear();
      } else if (line_.size() < 4096) {
        line_ += p[i];
      }
    }
  }
  void flush() {
    if (!line_.empty()) take(line_);
    line_.clear();
  }
  // Drains what the pipe holds now (fd non-blocking); returns false at end of file.
  bool drain(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) {
        feed(buf, static_cast<std::size_t>(r));
        continue;
      }
      if (r == 0) {
        flush();
        return false;
      }
      if (errno == EINTR) continue;
      return true;  // EAGAIN
    }
  }
  const std::string& last_error() const { return error_; }
  double fps() const { return fps_; }
  double duration_s() const { return duration_; }
  const std::string& size_change() const { return size_change_; }

 private:
  void take(const std::string& l) {
    // "[info] text", or "[mpegts @ 0x55..] [warning] text" with the reporting component first
    std::string text = l, level;
    for (const char* lv : {"trace", "debug", "verbose", "info", "warning", "error", "fatal", "panic"}) {
      const std::string tag = std::string("[") + lv + "] ";
      const std::size_t at = l.find(tag);
      if (at != std::string::npos && at < 64) {
        level = lv;
        text = l.substr(at + tag.size());
        break;
      }
    }
    if (level == "error" || level == "fatal" || level == "panic" || (level.empty() && error_.empty())) {
      if (!text.empty()) error_ = text;
    }
    // ffmpeg (re)configures its filter graph for the first frame and again whenever the decoded
    // size changes, logging the new input at verbose level:
    //   "[graph 0 input from stream 0:0 @ 0x..] [verbose] w:240 h:320 pixfmt:yuv420p tb:..."
    if (l.find(" input from stream ") != std::string::npos) {
      int w = 0, h = 0;
      if (std::sscanf(text.c_str(), "w:%d h:%d", &w, &h) == 2) {
        if (first_w_ == 0) first_w_ = w, first_h_ = h;
        else if ((w != first_w_ || h != first_h_) && size_change_.empty())
          size_change_ = "the frame size changed from " + std::to_string(first_w_) + "x" + std::to_string(first_h_) + " to " +
                         std::to_string(w) + "x" + std::to_string(h) + " (not supported; split the video where it changes)";
      }
    }
    // "  Duration: 00:00:00.80, start: ..." (N/A for live streams)
    const std::size_t d = text.find("Duration: ");
    if (d != std::string::npos && duration_ == 0) {
      int h = 0, m = 0;
      double s = 0;
      if (std::sscanf(text.c_str() + d + 10, "%d:%d:%lf", &h, &m, &s) == 3 && h >= 0 && h < 1000000 && m >= 0 &&
          m < 60 && s >= 0 && s < 61)
        duration_ = h * 3600.0 + m * 60.0 + s;
    }
    // The first input video stream: "Stream #0:0...: Video: ..., 640x480, 25 fps, 25 tbr, ..."
    if (!seen_video_ && text.find("Stream #0:") != std::string::npos && text.find(": Video: ") != std::string::npos) {
      seen_video_ = true;
      fps_ = number_before(text, " fps");
      if (!(fps_ > 0)) fps_ = number_before(text, " tbr");
    }
  }
  // "…, 29.97 fps" -> 29.97; "…, 1k tbr" -> 1000; 0 when absent or out of range.
  static double number_before(const std::string& t, const char* unit) {
    const std::size_t u = t.find(unit);
    if (u == std::string::npos) return 0;
    std::size_t b = t.rfind(' ', u - 1);
    b = b == std::string::npos ? 0 : b + 1;
    std::string num = t.substr(b, u - b);
    double mult = 1;
    if (!num.empty() && num.back() == 'k') mult = 1000, num.pop_back();
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || !end || *end || !(v > 0) || v * mult > 1000) return 0;
    return v * mult;
  }

  std::string line_, error_, size_change_;
  int first_w_ = 0, first_h_ = 0;
  double fps_ = 0, duration_ = 0;
  bool seen_video_ = false;
};

// Decoded frames of one video file, camera or stream, in order.
class VideoReader {
 public:
  struct Options {
    bool camera = false;          // V4L2 device: -f v4l2
    bool live = false;            // camera or network stream
    double timeout_s = 10;        // no byte on stdout for this long: stalled, give up
    yv9::vision::ImageLimits limits;
  };
  VideoReader(const std::string& url, Options o) : url_(url), o_(o) {
    if (!ffmpeg_installed()) throw yv9::IoError(url + ": video " + kFfmpegMissing);
    std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "repeat+level+verbose"};
    if (o.camera) argv.insert(argv.end(), {"-f", "v4l2"});
    // live: probe for 1 s, not 5, before the first frame comes out (the stream report needs little)
    if (o.live) argv.insert(argv.end(), {"-analyzeduration", "1000000"});
    // "-i" then the name as one argv element; "file:" keeps a name like "a:b.mp4" or "-x.mp4" a path
    const bool url_like = url.find("://") != std::string::npos || o.camera;
    argv.insert(argv.end(), {"-i", url_like ? url : "file:" + url, "-map", "0:v:0", "-an", "-sn", "-dn",
                             "-f", "image2pipe", "-c:v", "ppm", "pipe:1"});
    child_ = std::make_unique<Child>(argv, Child::Pipes{false, true, true});
    ::fcntl(child_->err(), F_SETFL, ::fcntl(child_->err(), F_GETFL) | O_NONBLOCK);
  }

  double fps() const { return log_.fps(); }
  // Frames the source should hold (duration x fps, as OpenCV estimates it); 0 when unknown.
  long expected_frames() const {
    const double n = log_.duration_s() * log_.fps();
    return n > 0 && n < 1e9 ? static_cast<long>(std::llround(n)) : 0;
  }
  long frames_read() const { return frames_; }

  // The next frame (BGR) into `im`. Returns false at the clean end of the video. Throws IoError
  // with one line for everything else: ffmpeg failed (its last error), a truncated frame, a frame
  // size change, a stall longer than the timeout. `stop` (Ctrl-C) ends it early: returns false.
  bool next(yv9::vision::Image& im, const std::atomic<bool>& stop) {
    if (done_) return false;
    char header[64];
    std::size_t hn = 0;
    int newlines = 0;
    // "P6\n", "W H\n", "255\n": three newlines; the header is short, read it byte by byte
    while (newlines < 3) {
      char c;
      const int r = read_some(&c, 1, stop);
      if (r == 0) {
        if (hn == 0) return finish(stop);
        fail("ffmpeg's output ended inside a frame header");
      }
      if (r < 0) return stopped();
      if (hn + 1 >= sizeof header) fail("ffmpeg sent a malformed frame header");
      header[hn++] = c;
      newlines += c == '\n';
    }
    header[hn] = 0;
    int w = 0, h = 0, maxval = 0, used = 0;
    if (std::sscanf(header, "P6 %d %d %d%n", &w, &h, &maxval, &used) != 3 || maxval != 255)
      fail("ffmpeg sent a malformed frame header");
    yv9::vision::check_image_size(url_ + ": frame " + std::to_string(frames_ + 1), w, h, o_.limits);
    if (frames_ > 0 && (w != width_ || h != height_))
      fail("the frame size changed from " + std::to_string(width_) + "x" + std::to_string(height_) + " to " +
           std::to_string(w) + "x" + std::to_string(h) + " at frame " + std::to_string(frames_ + 1));
    width_ = w, height_ = h;
    rgb_.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    std::size_t got = 0;
    while (got < rgb_.size()) {
      const int r = read_some(rgb_.data() + got, rgb_.size() - got, stop);
      if (r == 0) fail("ffmpeg's output ended inside frame " + std::to_string(frames_ + 1));
      if (r < 0) return stopped();
      got += static_cast<std::size_t>(r);
    }
    im.width = w, im.height = h;
    im.bgr.resize(rgb_.size());
    for (std::size_t i = 0; i < rgb_.size(); i += 3)
      im.bgr[i] = rgb_[i + 2], im.bgr[i + 1] = rgb_[i + 1], im.bgr[i + 2] = rgb_[i];
    ++frames_;
    log_.drain(child_->err());  // the stream report precedes the first frame; fps is known now
    // ffmpeg scales every frame to the first one's size, so frames read so far are whole pictures;
    // its log tells that the source changed size, and we stop there
    if (!log_.size_change().empty()) fail(log_.size_change() + ", after frame " + std::to_string(frames_));
    return true;
  }

 private:
  // >0 bytes read, 0 end of file, -1 stopped by `stop`.
  int read_some(void* dst, std::size_t n, const std::atomic<bool>& stop) {
    auto last = std::chrono::steady_clock::now();
    for (;;) {
      if (stop.load()) return -1;
      pollfd fds[2] = {{child_->out(), POLLIN, 0}, {err_open_ ? child_->err() : -1, POLLIN, 0}};
      const int pr = ::poll(fds, 2, 100);
      if (pr < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
      if (pr > 0 && (fds[1].revents & (POLLIN | POLLHUP))) err_open_ = log_.drain(child_->err());
      if (pr > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        const ssize_t r = ::read(child_->out(), dst, n > (1u << 20) ? (1u << 20) : n);
        if (r > 0) return static_cast<int>(r);
        if (r == 0) return 0;
        if (errno != EINTR && errno != EAGAIN) fail(std::string("read: ") + std::strerror(errno));
      }
      const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - last).count();
      if (idle > o_.timeout_s) {
        child_->kill();
        fail(frames_ ? "no frame for " + seconds(o_.timeout_s) + " (the stream stalled or went away)"
                     : "no frame within " + seconds(o_.timeout_s) + " (source unreachable or silent)");
      }
    }
  }
  static std::string seconds(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%g s", s);
    return b;
  }

  bool finish(const std::atomic<bool>& stop) {
    done_ = true;
    while (err_open_) {  // ffmpeg closed stdout; its last words follow on stderr
      pollfd f = {child_->err(), POLLIN, 0};
      if (::poll(&f, 1, 2000) <= 0) break;
      err_open_ = log_.drain(child_->err());
    }
    const int status = child_->wait();
    if (stop.load()) return false;
    if (!log_.size_change().empty()) fail(log_.size_change() + ", after frame " + std::to_string(frames_));
    const std::string why = ffmpeg_error();
    if (frames_ == 0) fail(status == 0 || why == "End of file" ? "no video frames" : "cannot read the video: " + why);
    if (status != 0) fail("ffmpeg failed after frame " + std::to_string(frames_) + ": " + why);
    // ffmpeg exits 0 after decoding a truncated or damaged file as far as it could; its error lines tell
    if (!log_.last_error().empty()) fail("damaged or truncated after frame " + std::to_string(frames_) + ": " + why);
    return false;
  }
  // ffmpeg's last error without the "file:<name>: " it puts in front (our messages start with the name)
  std::string ffmpeg_error() const {
    std::string e = log_.last_error();
    for (const std::string& p : {"file:" + url_ + ": ", url_ + ": "})
      if (e.rfind(p, 0) == 0) e = e.substr(p.size());
    return e.empty() ? "ffmpeg failed without a message" : e;
  }
  bool stopped() {
    done_ = true;
    child_->kill();
    child_->wait();
    return false;
  }
  [[noreturn]] void fail(const std::string& why) {
    done_ = true;
    if (child_->running()) {
      child_->kill();
      child_->wait();
    }
    throw yv9::IoError(url_ + ": " + why);
  }

  std::string url_;
  Options o_;
  std::unique_ptr<Child> child_;
  FfmpegLog log_;
  std::vector<std::uint8_t> rgb_;
  int width_ = 0, height_ = 0;
  long frames_ = 0;
  bool done_ = false, err_open_ = true;
};

// Whether this ffmpeg build has libx264 (asked once).
inline bool ffmpeg_has_libx264() {
  static const bool has = [] {
    try {
      Child c({"ffmpeg", "-hide_banner", "-encoders"}, Child::Pipes{false, true, false});
      std::string text;
      char buf[65536];
      for (ssize_t r; (r = ::read(c.out(), buf, sizeof buf)) != 0;) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        text.append(buf, static_cast<std::size_t>(r));
      }
      c.wait();
      return text.find(" libx264 ") != std::string::npos;
    } catch (const yv9::Error&) {
      return false;
    }
  }();
  return has;
}

// Annotated frames -> <path> (mp4), written under a temporary name and renamed by finish().
class VideoWriter {
 public:
  VideoWriter(const std::string& path, int width, int height, double fps) : path_(path), w_(width), h_(height) {
    if (!ffmpeg_installed()) throw yv9::IoError(path + ": writing video " + kFfmpegMissing);
    const std::size_t slash = path.find_last_of('/');
    tmp_ = path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".tmp." + std::to_string(::getpid()) + ".mp4";
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.6g", fps > 0 && fps <= 1000 ? fps : 30.0);
    const bool x264 = ffmpeg_has_libx264();
    std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
                                     "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size",
                                     std::to_string(width) + "x" + std::to_string(height), "-framerate", rate, "-i", "pipe:0",
                                     // 4:2:0 needs even sizes: pad odd ones by one pixel
                                     "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p"};
    if (x264) argv.insert(argv.end(), {"-c:v", "libx264", "-preset", "veryfast", "-crf", "23"});
    else argv.insert(argv.end(), {"-c:v", "mpeg4", "-q:v", "3"});
    argv.insert(argv.end(), {"-movflags", "+faststart", "-f", "mp4", "file:" + tmp_});
    child_ = std::make_unique<Child>(argv, Child::Pipes{true, false, true});
    ::fcntl(child_->err(), F_SETFL, ::fcntl(child_->err(), F_GETFL) | O_NONBLOCK);
    codec_ = x264 ? "libx264" : "mpeg4";
  }
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;
  ~VideoWriter() {
    if (!finished_) {
      child_->kill();
      child_->wait();
      ::unlink(tmp_.c_str());
    }
  }

  const std::string& codec() const { return codec_; }
  long frames() const { return frames_; }

  void write(const yv9::vision::Image& im) {
    if (im.width != w_ || im.height != h_) throw yv9::UsageError(path_ + ": frame size differs from the video's");
    rgb_.resize(im.bgr.size());
    for (std::size_t i = 0; i < rgb_.size(); i += 3)
      rgb_[i] = im.bgr[i + 2], rgb_[i + 1] = im.bgr[i + 1], rgb_[i + 2] = im.bgr[i];
    std::size_t off = 0;
    while (off < rgb_.size()) {
      log_.drain(child_->err());
      const ssize_t r = ::write(child_->in(), rgb_.data() + off, rgb_.size() - off);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        child_->close_in();
        drain_to_end();
        child_->wait();
        throw yv9::IoError(path_ + ": the video encoder stopped" + (log_.last_error().empty() ? "" : ": " + log_.last_error()));
      }
      off += static_cast<std::size_t>(r);
    }
    ++frames_;
  }

  // Ends the stream (the encoder writes the index and exits) and moves the file to its name.
  void finish() {
    if (finished_) return;
    finished_ = true;
    child_->close_in();
    drain_to_end();
    const int status = child_->wait();
    if (status != 0 || frames_ == 0) {
      ::unlink(tmp_.c_str());
      if (frames_ == 0) return;
      throw yv9::IoError(path_ + ": the video encoder failed" + (log_.last_error().empty() ? " (exit " + std::to_string(status) + ")" : ": " + log_.last_error()));
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp_.c_str());
      throw yv9::IoError(path_ + ": rename from " + tmp_ + " failed: " + std::strerror(e));
    }
  }

 private:
  void drain_to_end() {
    for (;;) {
      pollfd f = {child_->err(), POLLIN, 0};
      if (::poll(&f, 1, 30000) <= 0) return;
      if (!log_.drain(child_->err())) return;
    }
  }

  std::string path_, tmp_, codec_;
  int w_, h_;
  std::unique_ptr<Child> child_;
  FfmpegLog log_;
  std::vector<std::uint8_t> rgb_;
  long frames_ = 0;
  bool finished_ = false;
};

}  // namespace yv9tool
