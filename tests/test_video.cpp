// SPDX-License-Identifier: MIT
// detect on videos, end to end through the ffmpeg executable: a lossless clip gives the frames'
// labels exactly as the frames do as images, the annotated video has every frame, --vid-stride
// keeps upstream's frames, bad videos end in one line and exit 1 with what was done finalized,
// and SIGINT mid-video leaves a playable file. Every case needs ffmpeg/ffprobe and skips (ctest:
// Skipped) without them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"

namespace fs = std::filesystem;
using yv9test::sh_quote;

namespace {

const std::string W = yv9test::source_dir() + "/weights/gelan-t-mmqa-shapes.bin";

bool have_ffmpeg() {
  if (yv9test::on_path("ffmpeg") && yv9test::on_path("ffprobe")) return true;
  yv9test::skip("ffmpeg/ffprobe not installed (Debian package `ffmpeg`, tools/setup-debian.sh): the video tests did NOT run");
  return false;
}

std::string scratch() {
  static const std::string d = yv9test::fresh_dir("video");
  return d;
}

void sh(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

yv9test::Run detect(const std::string& args) {
  return yv9test::run_shell(yv9test::tool_command("detect") + " --weights " + sh_quote(W) + " " + args, scratch());
}

// Frames in a video file, decoded and counted by ffprobe.
long count_frames(const std::string& video) {
  yv9test::Run r = yv9test::run_shell("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                                      "-of default=noprint_wrappers=1:nokey=1 " + sh_quote(video), scratch());
  return r.code == 0 ? std::atol(r.out.c_str()) : -1;
}

// The four sample photos fitted into 640x480 (two are portrait) as PNGs f0..f3, and clip.mkv:
// those four frames in FFV1 with pix_fmt bgr0, i.e. losslessly the same pixels.
std::string frames_dir() {
  static const std::string d = [] {
    const std::string dir = scratch() + "/frames";
    fs::create_directories(dir);
    for (int i = 0; i < 4; ++i)
      sh("ffmpeg -nostdin -v error -y -i " + sh_quote(yv9test::source_dir() + "/weights/samples/samples_0000" + std::to_string(i) + ".png") +
         " -vf 'scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2' " +
         sh_quote(dir + "/f" + std::to_string(i) + ".png"));
    sh("ffmpeg -nostdin -v error -y -framerate 5 -i " + sh_quote(dir + "/f%d.png") + " -c:v ffv1 -pix_fmt bgr0 " +
       sh_quote(scratch() + "/clip.mkv"));
    return dir;
  }();
  return d;
}

bool temp_files_in(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("video: a lossless clip gives each frame the labels the frame gets as an image; the mp4 has every frame") {
  if (!have_ffmpeg()) return;
  const std::string frames = frames_dir(), img_out = scratch() + "/as-images", vid_out = scratch() + "/as-video";
  yv9test::Run im = detect("--source " + sh_quote(frames) + " --out " + sh_quote(img_out) + " --save-txt --save-conf --nosave");
  REQUIRE(im.code == 0);
  yv9test::Run v = detect("--source " + sh_quote(scratch() + "/clip.mkv") + " --out " + sh_quote(vid_out) + " --save-txt --save-conf");
  CAPTURE(v.err);
  REQUIRE(v.code == 0);
  CHECK(v.out.find("video 1/1 (frame 3/4) ") != std::string::npos);  // upstream's progress line
  int compared = 0;
  for (int k = 1; k <= 4; ++k) {
    const std::string from_video = vid_out + "/labels/clip_" + std::to_string(k) + ".txt";
    const std::string from_image = img_out + "/labels/f" + std::to_string(k - 1) + ".txt";
    CAPTURE(from_video);
    REQUIRE(yv9test::exists(from_video) == yv9test::exists(from_image));
    if (!yv9test::exists(from_image)) continue;
    CHECK(yv9test::slurp_text(from_video) == yv9test::slurp_text(from_image));
    ++compared;
  }
  CHECK(compared == 4);  // every sample has boxes at conf 0.25
  CHECK(count_frames(vid_out + "/clip.mp4") == 4);
  CHECK(!temp_files_in(vid_out));
}

TEST_CASE("video: --vid-stride 2 uses frames 2 and 4 (grab two, keep the last), counted 1 and 2") {
  if (!have_ffmpeg()) return;
  const std::string frames = frames_dir(), img_out = scratch() + "/stride-images", vid_out = scratch() + "/stride-video";
  REQUIRE(detect("--source " + sh_quote(frames) + " --out " + sh_quote(img_out) + " --save-txt --nosave").code == 0);
  yv9test::Run v = detect("--source " + sh_quote(scratch() + "/clip.mkv") + " --vid-stride 2 --out " + sh_quote(vid_out) + " --save-txt");
  REQUIRE(v.code == 0);
  CHECK(v.out.find("(frame 2/2)") != std::string::npos);
  CHECK(yv9test::slurp_text(vid_out + "/labels/clip_1.txt") == yv9test::slurp_text(img_out + "/labels/f1.txt"));
  CHECK(yv9test::slurp_text(vid_out + "/labels/clip_2.txt") == yv9test::slurp_text(img_out + "/labels/f3.txt"));
  CHECK(!yv9test::exists(vid_out + "/labels/clip_3.txt"));
  CHECK(count_frames(vid_out + "/clip.mp4") == 2);
}

TEST_CASE("video: truncated, corrupt, zero-frame, resized and silent sources: exit 1, one line, work so far finalized") {
  if (!have_ffmpeg()) return;
  frames_dir();
  const std::string d = scratch() + "/bad";
  fs::create_directories(d);
  const std::string clip = yv9test::slurp_text(scratch() + "/clip.mkv");
  {
    std::ofstream(d + "/truncated.mkv", std::ios::binary) << clip.substr(0, clip.size() * 2 / 3);
    std::string junk(100000, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u) >> 13);
    std::ofstream(d + "/corrupt.mp4", std::ios::binary) << junk;
  }
  sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=64x64:rate=5 -frames:v 0 -c:v ffv1 " + sh_quote(d + "/empty.mkv"));
  // a transport stream whose picture turns from 320x240 to 240x320 after 10 frames
  sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=10 -t 1 -c:v mpeg4 -f mpegts " + sh_quote(d + "/a.ts"));
  sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=240x320:rate=10 -t 1 -c:v mpeg4 -output_ts_offset 1 -f mpegts " +
     sh_quote(d + "/b.ts"));
  sh("cat " + sh_quote(d + "/a.ts") + " " + sh_quote(d + "/b.ts") + " > " + sh_quote(d + "/resized.ts"));
  struct Case {
    std::string source, extra, message;
    long frames_kept;  // -1: no video file expected
  };
  const std::vector<Case> cases = {
      {d + "/truncated.mkv", "", "truncated", -2},  // some frames, fewer than 4
      {d + "/corrupt.mp4", "", "cannot read the video", -1},
      {d + "/empty.mkv", "", "no video frames", -1},
      {d + "/resized.ts", "", "frame size changed from 320x240 to 240x320", -3},  // about 10
      // nobody sends to this port
      {"udp://127.0.0.1:" + std::to_string(20000 + ::getpid() % 20000), "--stream-timeout 1", "no frame within 1 s", -1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.source);
    const std::string out = d + "/out-" + std::to_string(&c - cases.data());
    const auto t0 = std::chrono::steady_clock::now();
    // --img 64: the boxes do not matter here, and sanitizer builds run the network ~50x slower
    yv9test::Run r = detect("--source " + sh_quote(c.source) + " " + c.extra + " --img 64 --out " + sh_quote(out));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120));  // never a hang
    CAPTURE(r.err);
    CHECK(r.code == 1);
    CHECK(yv9test::count_lines(r.err) == 1);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(!temp_files_in(out));
    std::vector<std::string> videos;
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().extension() == ".mp4") videos.push_back(e.path().string());
    if (c.frames_kept == -1) {
      CHECK(videos.empty());
    } else {
      REQUIRE(videos.size() == 1);
      const long n = count_frames(videos[0]);
      if (c.frames_kept == -2) CHECK((n >= 1 && n < 4));
      // ffmpeg's decoder runs a few frames ahead of what we read: the change is noticed within them
      else if (c.frames_kept == -3) CHECK((n >= 5 && n <= 11));
      else CHECK(n == c.frames_kept);
    }
  }
}

TEST_CASE("video: SIGINT mid-video stops cleanly: exit 130, a playable mp4 with every frame processed, no temp files") {
  if (!have_ffmpeg()) return;
  const std::string d = scratch() + "/sigint", src = d + "/long.mp4", out = d + "/out";
  fs::create_directories(d);
  sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 2000 -c:v mpeg4 " + sh_quote(src));
  const std::string so = d + "/stdout", se = d + "/stderr";
  std::fflush(stdout);  // or the child's freopen would write our buffered output a second time
  std::fflush(stderr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen(so.c_str(), "w", stdout);
    std::freopen(se.c_str(), "w", stderr);
    // `exec`: the shell becomes detect (or the emulator running it in cross builds), so pid is detect's
    const std::string cmd = "exec " + yv9test::tool_command("detect") + " --weights " + sh_quote(W) + " --source " +
                            sh_quote(src) + " --out " + sh_quote(out) + " --save-txt --threads 1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // interrupt once a few frames are done
  const auto t0 = std::chrono::steady_clock::now();
  while (yv9test::slurp_text(so).find("(frame 5/") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGINT);
  int st = 0;
  ::waitpid(pid, &st, 0);
  const std::string err = yv9test::slurp_text(se), log = yv9test::slurp_text(so);
  CAPTURE(err);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 130);
  CHECK(err.find("stopped by SIGINT") != std::string::npos);
  const std::size_t at = log.find(" frames -> ");
  REQUIRE(at != std::string::npos);
  const long reported = std::atol(log.c_str() + log.rfind(' ', at - 1) + 1);
  CHECK(reported >= 5);
  CHECK(reported < 2000);
  CHECK(count_frames(out + "/long.mp4") == reported);
  CHECK(!temp_files_in(out));
}
