// catcher: a tiny C++ game that embeds libattnagent through its C API, as a game engine would.
//
// The game: a ball falls down a 6 × 5 board, one row per frame, from a random column; the player moves a paddle
// along the bottom row (left, stay, right). When the ball reaches the bottom row the round ends: +1 if the
// paddle is under it, −1 if not. A random player catches about one ball in five.
//
// What the program does:
//   1. trains an agent on 16 copies of the game through the callback interface (attn_env, attn_rollout,
//      attn_learner, attn_optimizer) for UPDATES updates;
//   2. saves the agent, loads it back, and checks the copy acts exactly like the original;
//   3. plays ROUNDS rounds greedily the way a game loop does, one frame at a time (attn_forward on a state of
//      one environment), and the same rounds with a random player, and prints both catch rates;
//   4. draws one round frame by frame in the terminal with, beside the board, where each query looked
//      (attn_get_maps).
//
// Build it against the installed library (docs/embedding.md walks through it):
//   c++ -std=c++17 -Wall -Wextra -Werror -pedantic catcher.cpp $(pkg-config --cflags --libs attnagent)
// Run: catcher [UPDATES [SEED [SAVE_PATH]]]   (defaults 300, 1, catcher.safetensors)
#include <attnagent/attnagent.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---- The game ---------------------------------------------------------------------------------------------

constexpr int kRows = 6, kCols = 5, kChannels = 2, kActions = 3;  // channel 0: ball, channel 1: paddle
constexpr int kObsBytes = kRows * kCols * kChannels;
constexpr int kQueries = 2;

class CatchGame {
public:
    void reset(std::uint64_t seed)
    {
        std::mt19937_64 rng(seed);
        ball_col_ = static_cast<int>(rng() % kCols);
        ball_row_ = 0;
        paddle_ = kCols / 2;
    }

    // Moves the paddle (0 left, 1 stay, 2 right) and the ball; returns the reward, sets `over` at the round's end.
    float step(int action, bool &over)
    {
        if (action < 0 || action >= kActions) throw std::out_of_range("action " + std::to_string(action));
        paddle_ = std::clamp(paddle_ + action - 1, 0, kCols - 1);
        ball_row_++;
        over = ball_row_ == kRows - 1;
        if (!over) return 0.0f;
        return paddle_ == ball_col_ ? 1.0f : -1.0f;
    }

    // The frame the agent sees: rows × columns × channels, uint8, channels last.
    void render(std::uint8_t *obs) const
    {
        std::memset(obs, 0, kObsBytes);
        obs[(ball_row_ * kCols + ball_col_) * kChannels + 0] = 1;
        obs[((kRows - 1) * kCols + paddle_) * kChannels + 1] = 1;
    }

    // The frame a human sees: one row of the board as text.
    std::string row_text(int row) const
    {
        std::string s;
        for (int c = 0; c < kCols; c++) {
            const bool ball = row == ball_row_ && c == ball_col_, paddle = row == kRows - 1 && c == paddle_;
            s += ball && paddle ? '@' : ball ? 'o' : paddle ? '=' : '.';
        }
        return s;
    }

private:
    int ball_row_ = 0, ball_col_ = 0, paddle_ = kCols / 2;
};

// ---- The games as an attn_env -------------------------------------------------------------------------------
//
// The library calls these through plain C function pointers, so they have C linkage, and no C++ exception may
// leave them: step (the one that can throw) catches everything and reports a failure code, its message kept
// for error().

struct GameSet {
    std::vector<CatchGame> games;
    std::vector<std::string> errors;
};

extern "C" {

static int catcher_reset(void *ctx, int index, std::uint64_t seed, void *obs)
{
    auto *set = static_cast<GameSet *>(ctx);
    set->games[static_cast<std::size_t>(index)].reset(seed);
    set->games[static_cast<std::size_t>(index)].render(static_cast<std::uint8_t *>(obs));
    return 0;
}

static int catcher_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated,
                        int *truncated)
{
    auto *set = static_cast<GameSet *>(ctx);
    try {
        CatchGame &game = set->games[static_cast<std::size_t>(index)];
        bool over = false;
        *reward = game.step(action, over);
        *terminated = over;
        *truncated = 0;
        game.render(static_cast<std::uint8_t *>(obs));
        return 0;
    } catch (const std::exception &e) {
        set->errors[static_cast<std::size_t>(index)] = e.what();
        return 1;
    }
}

static const char *catcher_error(void *ctx, int index)
{
    return static_cast<GameSet *>(ctx)->errors[static_cast<std::size_t>(index)].c_str();
}

}  // extern "C"

// ---- The library's handles, owned by unique_ptr --------------------------------------------------------------

struct Deleter {
    void operator()(attn_config *p) const { attn_config_destroy(p); }
    void operator()(attn_model *p) const { attn_model_destroy(p); }
    void operator()(attn_state *p) const { attn_state_destroy(p); }
    void operator()(attn_rollout *p) const { attn_rollout_destroy(p); }
    void operator()(attn_learner *p) const { attn_learner_destroy(p); }
    void operator()(attn_optimizer *p) const { attn_optimizer_destroy(p); }
};
template <typename T>
using Handle = std::unique_ptr<T, Deleter>;

// Every status the library returns goes through here: a failure becomes an exception with the library's message.
void check(attn_status status, const char *what)
{
    if (status != ATTN_OK)
        throw std::runtime_error(std::string(what) + ": " + attn_status_str(status) + "\n  " + attn_last_error());
}

// A creation call whose handle goes straight into a Handle.
template <typename T, typename F>
Handle<T> make(const char *what, F &&create)
{
    T *raw = nullptr;
    check(create(&raw), what);
    return Handle<T>(raw);
}

// A small network for a small board: one 3×3 convolution keeps the 6×5 grid, so each grid cell is one square.
Handle<attn_config> make_config()
{
    auto cfg = make<attn_config>("config", [](attn_config **c) { return attn_config_create(c, ATTN_PRESET_MINATAR); });
    attn_config *c = cfg.get();
    check(attn_config_set(c, ATTN_CFG_OBS_H, kRows), "obs_h");
    check(attn_config_set(c, ATTN_CFG_OBS_W, kCols), "obs_w");
    check(attn_config_set(c, ATTN_CFG_OBS_C, kChannels), "obs_c");
    check(attn_config_set(c, ATTN_CFG_NUM_ACTIONS, kActions), "actions");
    // The frames are binary planes (0/1 per cell): the model must not read them as pixels to divide by 255.
    check(attn_config_set(c, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY), "observation type");
    check(attn_config_set_conv(c, 0, 8, 3, 1, 1), "conv");
    check(attn_config_set(c, ATTN_CFG_LSTM_CHANNELS, 16), "lstm channels");
    check(attn_config_set(c, ATTN_CFG_KEY_CHANNELS, 4), "key channels");
    check(attn_config_set(c, ATTN_CFG_BASIS_U, 3), "basis u");
    check(attn_config_set(c, ATTN_CFG_BASIS_V, 3), "basis v");
    check(attn_config_set(c, ATTN_CFG_NUM_QUERIES, kQueries), "queries");
    check(attn_config_set(c, ATTN_CFG_CORE_UNITS, 32), "core units");
    check(attn_config_set_mlp_hidden(c, ATTN_MLP_QUERY, 0, 32), "query mlp");
    check(attn_config_set_mlp_hidden(c, ATTN_MLP_ANSWER, 0, 64), "answer mlp");
    check(attn_config_set(c, ATTN_CFG_THREADS, 1), "threads");  // one thread: the same seed, the same agent
    check(attn_config_validate(c), "validate");
    return cfg;
}

// ---- Playing: the game loop of an engine --------------------------------------------------------------------

int argmax(const float *logits)
{
    return static_cast<int>(std::max_element(logits, logits + kActions) - logits);
}

// The agent as a player: its own recurrent state for one game, stepped once per frame.
class AgentPlayer {
public:
    explicit AgentPlayer(attn_model *model) : model_(model)
    {
        state_ = make<attn_state>("state", [&](attn_state **s) { return attn_state_create(s, model, 1, 0); });
        int h = 0, w = 0;
        check(attn_config_get(attn_model_config(model), ATTN_CFG_GRID_H, &h), "grid h");
        check(attn_config_get(attn_model_config(model), ATTN_CFG_GRID_W, &w), "grid w");
        maps_.resize(static_cast<std::size_t>(kQueries * h * w));
    }

    // The action for this frame: greedy, or sampled from the policy with `sampler`. `first` marks the first frame
    // of a round; the previous reward and action are what the agent saw and did last frame (network inputs).
    int act(const std::uint8_t *frame, bool first, float prev_reward, int prev_action,
            std::mt19937_64 *sampler = nullptr)
    {
        const std::uint8_t first_flag = first ? 1 : 0;
        const std::int32_t action_in = first ? ATTN_NO_ACTION : prev_action;
        std::array<float, kActions> logits{};
        check(attn_forward(model_, state_.get(), ATTN_FORWARD_ACT, frame, kObsBytes, &prev_reward, &action_in,
                           &first_flag, logits.data(), nullptr),
              "forward");
        check(attn_get_maps(state_.get(), maps_.data(), maps_.size()), "maps");
        if (!sampler) return argmax(logits.data());
        std::array<double, kActions> p{};
        const float top = logits[static_cast<std::size_t>(argmax(logits.data()))];
        for (int a = 0; a < kActions; a++) p[a] = std::exp(static_cast<double>(logits[a] - top));
        std::discrete_distribution<int> policy(p.begin(), p.end());
        return policy(*sampler);
    }

    // Query q's map over the board, resampled to the frame's pixels (here the grid is the board, one to one).
    std::vector<float> map_pixels(int q) const
    {
        const std::size_t cells = maps_.size() / kQueries;
        std::vector<float> pixels(kRows * kCols);
        check(attn_map_to_pixels(model_, maps_.data() + static_cast<std::size_t>(q) * cells, pixels.data(),
                                 pixels.size()),
              "map to pixels");
        return pixels;
    }

private:
    attn_model *model_;
    Handle<attn_state> state_;
    std::vector<float> maps_;  // queries × h × w, refreshed every frame
};

// Plays `rounds` rounds, seeds 0..rounds-1 offset by `seed`; a null agent plays randomly. The agent plays
// greedily, or samples its moves when `sample` is set. Returns the catch rate.
double catch_rate(AgentPlayer *agent, bool sample, int rounds, std::uint64_t seed)
{
    std::mt19937_64 coin(seed ^ 0x5eedULL);
    int caught = 0;
    for (int r = 0; r < rounds; r++) {
        CatchGame game;
        game.reset(seed + static_cast<std::uint64_t>(r));
        std::uint8_t frame[kObsBytes];
        bool over = false, first = true;
        float reward = 0.0f;
        int action = 0;
        while (!over) {
            game.render(frame);
            action = agent ? agent->act(frame, first, reward, action, sample ? &coin : nullptr)
                           : static_cast<int>(coin() % kActions);
            reward = game.step(action, over);
            first = false;
        }
        caught += reward > 0.0f;
    }
    return static_cast<double>(caught) / rounds;
}

char shade(float v, float peak)
{
    static const char ramp[] = " .:-=+*#%@";
    const int i = peak > 0.0f ? static_cast<int>(v / peak * 9.0f + 0.5f) : 0;
    return ramp[std::clamp(i, 0, 9)];
}

// One round, frame by frame: the board, then each query's attention map (the brightest square is '@').
void show_round(attn_model *model, std::uint64_t seed)
{
    AgentPlayer agent(model);
    CatchGame game;
    game.reset(seed);
    std::uint8_t frame[kObsBytes];
    bool over = false, first = true;
    float reward = 0.0f;
    int action = 0;
    static const char *const names[kActions] = {"left", "stay", "right"};
    for (int t = 0; !over; t++) {
        game.render(frame);
        action = agent.act(frame, first, reward, action);
        std::vector<std::vector<float>> maps;
        for (int q = 0; q < kQueries; q++) maps.push_back(agent.map_pixels(q));
        std::printf("frame %d: the agent moves %s\n", t, names[action]);
        for (int row = 0; row < kRows; row++) {
            std::printf("  |%s|", game.row_text(row).c_str());
            for (const std::vector<float> &m : maps) {
                const float peak = *std::max_element(m.begin(), m.end());
                std::printf("  |");
                for (int c = 0; c < kCols; c++) std::putchar(shade(m[static_cast<std::size_t>(row * kCols + c)], peak));
                std::printf("|");
            }
            std::printf("\n");
        }
        reward = game.step(action, over);
        first = false;
    }
    std::printf("the round ends: %s\n", reward > 0.0f ? "caught" : "missed");
}

// ---- Training -------------------------------------------------------------------------------------------------

constexpr int kEnvs = 16, kUnroll = 10;

void train(attn_model *model, int updates, std::uint64_t seed)
{
    GameSet set{std::vector<CatchGame>(kEnvs), std::vector<std::string>(kEnvs)};
    attn_env env = ATTN_ENV_INIT;
    env.ctx = &set;
    env.reset = catcher_reset;
    env.step = catcher_step;
    env.error = catcher_error;
    env.thread_safe = 1;  // each index touches only its own game

    auto rollout = make<attn_rollout>(
        "rollout", [&](attn_rollout **r) { return attn_rollout_create(r, model, kEnvs, kUnroll, seed); });
    attn_loss_config loss;
    check(attn_loss_config_init(&loss, ATTN_LOSS_PPO), "loss");
    auto learner = make<attn_learner>(
        "learner", [&](attn_learner **l) { return attn_learner_create(l, model, &loss, kEnvs, kUnroll); });
    auto opt = make<attn_optimizer>(
        "optimizer", [&](attn_optimizer **o) { return attn_optimizer_create(o, model, ATTN_OPTIM_ADAM); });
    check(attn_optimizer_set(opt.get(), ATTN_OPT_LR, 1e-3), "learning rate");

    std::vector<float> returns(kEnvs * kUnroll);
    double sum = 0.0;
    int episodes = 0;
    for (int u = 1; u <= updates; u++) {
        check(attn_rollout_collect(rollout.get(), model, &env, ATTN_ACT_SAMPLE), "collect");
        int finished = 0;
        check(attn_rollout_finished(rollout.get(), returns.data(), nullptr, static_cast<int>(returns.size()),
                                    &finished),
              "finished");
        for (int i = 0; i < std::min(finished, static_cast<int>(returns.size())); i++) sum += returns[i];
        episodes += finished;
        attn_loss_stats stats;
        check(attn_learner_update(learner.get(), opt.get(), rollout.get(), &stats), "update");
        if (u % 25 == 0 || u == updates) {
            std::printf("update %4d  frames %7lld  mean return %+.3f  entropy %.3f\n", u,
                        static_cast<long long>(attn_rollout_frames(rollout.get())), episodes ? sum / episodes : 0.0,
                        stats.entropy);
            std::fflush(stdout);
            sum = 0.0;
            episodes = 0;
        }
    }
}

// The loaded copy must give the same logits as the original on a few frames.
void check_round_trip(attn_model *original, const std::string &path)
{
    check(attn_model_save(original, path.c_str()), "save");
    // A loaded model uses the default thread count; with one game per state that cannot change a result.
    auto copy = make<attn_model>("load", [&](attn_model **m) { return attn_model_load(m, path.c_str()); });
    AgentPlayer a(original), b(copy.get());
    CatchGame game;
    game.reset(7);
    std::uint8_t frame[kObsBytes];
    bool over = false, first = true;
    while (!over) {
        game.render(frame);
        const int x = a.act(frame, first, 0.0f, 1), y = b.act(frame, first, 0.0f, 1);
        if (x != y) throw std::runtime_error("the loaded agent acts differently from the saved one");
        game.step(x, over);
        first = false;
    }
    std::printf("saved to %s and loaded back: the copy plays the same moves\n", path.c_str());
}

}  // namespace

int main(int argc, char **argv)
{
    const int updates = argc > 1 ? std::atoi(argv[1]) : 300;
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    const std::string save_path = argc > 3 ? argv[3] : "catcher.safetensors";
    try {
        if (attn_version_number() != ATTN_VERSION_NUMBER)
            throw std::runtime_error("built against libattnagent " + std::to_string(ATTN_VERSION_NUMBER) +
                                     ", running with " + attn_version_string());
        auto cfg = make_config();
        auto model = make<attn_model>("model", [&](attn_model **m) { return attn_model_create(m, cfg.get(), seed); });
        std::printf("catcher on libattnagent %s: %zu parameters, %d games × %d frames per update, PPO\n",
                    attn_version_string(), attn_model_param_count(model.get()), kEnvs, kUnroll);
        train(model.get(), updates, seed);
        check_round_trip(model.get(), save_path);

        constexpr int kRounds = 500;
        AgentPlayer agent(model.get());
        const double greedy = catch_rate(&agent, false, kRounds, 1000000);
        const double sampled = catch_rate(&agent, true, kRounds, 1000000);
        const double random = catch_rate(nullptr, false, kRounds, 1000000);
        std::printf("\n");
        show_round(model.get(), 4242);
        std::printf("\nresult: over %d new rounds the trained agent catches %.3f of the balls greedily, %.3f "
                    "sampling its moves; a random player %.3f\n",
                    kRounds, greedy, sampled, random);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "catcher: %s\n", e.what());
        return 1;
    }
}
