// SPDX-License-Identifier: MIT
// The producer half of `detect --source`: one thread decodes images and video frames and
// letterboxes them while the caller's thread runs the network on the previous one.
//
//   files, folders, videos:  producer ──(queue of 2, blocks when full)──> consumer: every frame
//   cameras, streams:        reader ──(newest frame only)──> producer ──(queue)──> consumer
//                            the reader drains ffmpeg's pipe at the source's pace and overwrites
//                            the frame nobody took yet (counted as dropped), and the producer
//                            takes the newest one only when the consumer waits for work, so a
//                            result is one forward pass (plus letterboxing) behind its frame.
//
// Per source the consumer receives its frames in order and then one `end` item, which carries the
// source's error (one line) if it failed and how many frames a live source dropped.
#pragma once
#include <yv9/vision/all.hpp>
#include <yv9/vision/detector.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sources.hpp"
#include "video.hpp"

namespace yv9tool {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Work {
  std::size_t src = 0;        // index into the source list
  bool end = false;           // the source is finished (error says why if it failed)
  long frame = 0;             // 1-based frame counter of videos (upstream's), 0 for images
  long total = 0;             // frames the video should yield (0 unknown or live)
  double fps = 0;             // source frame rate (0 unknown)
  yv9::vision::Image im;      // the original picture
  yv9::Tensor<float> x;       // its letterboxed network input
  yv9::vision::LetterboxGeometry geometry;
  double decode_ms = 0, preprocess_ms = 0;
  Clock::time_point captured;  // when the frame was decoded (live latency runs from here)
  long dropped = 0;           // live sources: frames overwritten before they were used, so far
  std::string error;
};

// A bounded FIFO that either side can close: push() then fails, pop() drains and then fails.
template <class T>
class Channel {
 public:
  explicit Channel(std::size_t capacity) : cap_(capacity) {}
  bool push(T v) {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return closed_ || q_.size() < cap_; });
    if (closed_) return false;
    q_.push_back(std::move(v));
    cv_.notify_all();
    return true;
  }
  bool pop(T& v) {
    std::unique_lock<std::mutex> l(m_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(l, [&] { return closed_ || !q_.empty(); });
    --waiting_;
    if (q_.empty()) return false;
    v = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  // Waits until the consumer has taken everything and waits for more (or the channel closed).
  void wait_idle() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return closed_ || (q_.empty() && waiting_ > 0); });
  }
  void close() {
    std::lock_guard<std::mutex> l(m_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<T> q_;
  std::size_t cap_;
  int waiting_ = 0;
  bool closed_ = false;
};

// One slot holding the newest frame of a live source.
class NewestFrame {
 public:
  struct Frame {
    yv9::vision::Image im;
    long number = 0;
    double fps = 0, decode_ms = 0;
    Clock::time_point captured;
  };
  void put(Frame f) {
    std::lock_guard<std::mutex> l(m_);
    if (has_) ++dropped_;
    slot_ = std::move(f);
    has_ = true;
    cv_.notify_all();
  }
  void finish(std::string error) {
    std::lock_guard<std::mutex> l(m_);
    finished_ = true;
    error_ = std::move(error);
    cv_.notify_all();
  }
  // The newest frame; false once the reader finished and nothing is left (or `stop`).
  bool take(Frame& f, const std::atomic<bool>& stop) {
    std::unique_lock<std::mutex> l(m_);
    while (!has_ && !finished_ && !stop.load()) cv_.wait_for(l, std::chrono::milliseconds(100));
    if (!has_) return false;
    f = std::move(slot_);
    has_ = false;
    return true;
  }
  long dropped() const {
    std::lock_guard<std::mutex> l(m_);
    return dropped_;
  }
  std::string error() const {
    std::lock_guard<std::mutex> l(m_);
    return error_;
  }

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  Frame slot_;
  bool has_ = false, finished_ = false;
  long dropped_ = 0;
  std::string error_;
};

struct ProducerOptions {
  int vid_stride = 1;
  double stream_timeout_s = 10;
};

class Producer {
 public:
  Producer(const std::vector<Source>& sources, const yv9::vision::Detector& det, ProducerOptions o,
           Channel<Work>& out, std::atomic<bool>& stop)
      : sources_(sources), det_(det), o_(o), out_(out), stop_(stop) {}

  // Runs on its own thread; closes the channel when all sources are done or on stop.
  void run() {
    for (std::size_t i = 0; i < sources_.size() && !stop_.load(); ++i) {
      const Source& s = sources_[i];
      const bool ok = s.kind == SourceKind::Image ? image(i) : s.live() ? live(i) : video(i);
      if (!ok) break;
    }
    out_.close();
  }

 private:
  // Letterbox + tensor; false if the consumer is gone.
  bool send(Work w) {
    const auto t0 = Clock::now();
    yv9::vision::Letterboxed lb = det_.preprocess(w.im);
    w.x = yv9::vision::to_tensor(lb.image);
    w.geometry = lb.geometry;
    w.preprocess_ms = ms_between(t0, Clock::now());
    return out_.push(std::move(w));
  }

  bool image(std::size_t i) {
    Work w;
    w.src = i;
    const auto t0 = Clock::now();
    try {
      w.im = yv9::vision::load_image(sources_[i].path);
      w.decode_ms = ms_between(t0, Clock::now());
      w.captured = Clock::now();
      return send(std::move(w));
    } catch (const yv9::Error& e) {
      w.end = true;
      w.error = e.what();
      return out_.push(std::move(w));
    }
  }

  VideoReader::Options reader_options(const Source& s) const {
    VideoReader::Options ro;
    ro.camera = s.kind == SourceKind::Camera;
    ro.live = s.live();
    ro.timeout_s = o_.stream_timeout_s;
    return ro;
  }

  bool video(std::size_t i) {
    Work end;
    end.src = i;
    end.end = true;
    try {
      VideoReader r(sources_[i].path, reader_options(sources_[i]));
      yv9::vision::Image im;
      long raw = 0, used = 0;
      for (auto t0 = Clock::now(); r.next(im, stop_); t0 = Clock::now()) {
        if (++raw % o_.vid_stride != 0) continue;  // upstream: grab vid_stride frames, use the last
        Work w;
        w.src = i;
        w.frame = ++used;
        w.total = r.expected_frames() / o_.vid_stride;
        w.fps = r.fps();
        w.im = im;
        w.decode_ms = ms_between(t0, Clock::now());
        w.captured = Clock::now();
        if (!send(std::move(w))) return false;
      }
    } catch (const yv9::Error& e) {
      end.error = e.what();
    }
    return out_.push(std::move(end));
  }

  bool live(std::size_t i) {
    NewestFrame slot;
    const Source& s = sources_[i];
    if (s.kind == SourceKind::Camera) {
      struct stat st;
      if (::stat(s.path.c_str(), &st) != 0) {
        Work end;
        end.src = i;
        end.end = true;
        end.error = s.path + ": no such camera (V4L2 devices present: ls /dev/video*)";
        return out_.push(std::move(end));
      }
    }
    std::atomic<bool> quit{false};
    std::thread reader([&] {
      try {
        VideoReader r(s.path, reader_options(s));
        NewestFrame::Frame f;
        long raw = 0;
        for (auto t0 = Clock::now(); r.next(f.im, quit); t0 = Clock::now()) {
          if (++raw % o_.vid_stride != 0) continue;
          f.number = raw / o_.vid_stride;
          f.fps = r.fps();
          f.captured = Clock::now();
          f.decode_ms = ms_between(t0, f.captured);  // includes waiting for the source's next frame
          slot.put(f);
        }
        slot.finish("");
      } catch (const yv9::Error& e) {
        slot.finish(e.what());
      }
    });
    bool consumer_alive = true;
    NewestFrame::Frame f;
    for (;;) {
      out_.wait_idle();  // the newest frame at the moment the network is free: latency = one forward pass
      if (stop_.load()) quit = true;
      if (!slot.take(f, stop_)) break;
      Work w;
      w.src = i;
      w.frame = f.number;
      w.fps = f.fps;
      w.captured = f.captured;
      w.decode_ms = f.decode_ms;
      w.im = std::move(f.im);
      w.dropped = slot.dropped();
      if (!send(std::move(w))) {
        consumer_alive = false;
        break;
      }
    }
    quit = true;
    reader.join();
    if (!consumer_alive) return false;
    Work end;
    end.src = i;
    end.end = true;
    end.dropped = slot.dropped();
    end.error = slot.error();
    return out_.push(std::move(end));
  }

  const std::vector<Source>& sources_;
  const yv9::vision::Detector& det_;
  ProducerOptions o_;
  Channel<Work>& out_;
  std::atomic<bool>& stop_;
};

}  // namespace yv9tool
