/* The ALE bridge against fake servers (fixtures/): environments are routed to the right server and slot, lost
 * lives and game overs become the right episode ends and raw scores, and every way a server can fail — no
 * interpreter, no script, no ale-py, exiting at once, crashing, exiting or hanging mid-episode, garbage, a wrong
 * size — ends in a sentence saying so, within the timeout, and every later call fails at once. argv[1] is the
 * fixtures directory. Needs a python3 (without ale-py is fine); $ATTN_PYTHON picks another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ale_env.h"
#include "ale_protocol.h"

enum { SIDE = 8, OBS = SIDE * SIDE * 3 };

static const char *fixtures;
static char fake_server[1024];
static char err[1024];

static const char *python(void)
{
    const char *p = getenv("ATTN_PYTHON");
    return p && *p ? p : "python3";
}

static ale_env_options fake_options(const char *mode, int envs, int procs)
{
    setenv("FAKE_ALE_MODE", mode, 1);
    setenv("FAKE_ALE_AFTER", "5", 1);
    ale_env_options o = ALE_ENV_OPTIONS_INIT;
    o.envs = envs;
    o.procs = procs;
    o.height = o.width = SIDE;
    o.timeout = 20.0; /* generous: a loaded machine must not turn a slow answer into a false "hung" */
    o.python = python();
    o.server = fake_server;
    return o;
}

static void expect_create_fails(const ale_env_options *o, const char *needle1, const char *needle2)
{
    ale_env *e = (ale_env *)1;
    err[0] = 0;
    assert_int_equal(ale_env_create(&e, o, err, sizeof err), -1);
    assert_null(e);
    print_message("  message: %s\n", err);
    assert_non_null(strstr(err, needle1));
    if (needle2) assert_non_null(strstr(err, needle2));
}

static void test_missing_interpreter(void **unused)
{
    (void)unused;
    ale_env_options o = fake_options("ok", 1, 1);
    o.python = "/nonexistent/python3";
    expect_create_fails(&o, "cannot start the ALE server", "pip install ale-py");
}

static void test_missing_script(void **unused)
{
    (void)unused;
    ale_env_options o = fake_options("ok", 1, 1);
    o.server = "/nonexistent/ale_server.py";
    expect_create_fails(&o, "cannot be read", "ATTN_ALE_SERVER");
}

static void test_server_exits_at_once(void **unused)
{
    (void)unused;
    char script[1024];
    snprintf(script, sizeof script, "%s/exit_now.sh", fixtures);
    ale_env_options o = fake_options("ok", 2, 2);
    o.python = "sh";
    o.server = script;
    expect_create_fails(&o, "exited with status 3", NULL);
}

/* The real server under a Python whose `import ale_py` fails says how to install it. */
static void test_ale_py_missing(void **unused)
{
    (void)unused;
    char path[1024];
    snprintf(path, sizeof path, "%s/no_ale_py", fixtures);
    setenv("PYTHONPATH", path, 1);
    ale_env_options o = fake_options("ok", 1, 1);
    o.server = NULL; /* the real one */
    expect_create_fails(&o, "ale-py is not installed", "-m pip install ale-py");
    unsetenv("PYTHONPATH");
}

static void test_server_hangs_at_start(void **unused)
{
    (void)unused;
    ale_env_options o = fake_options("hang_hello", 1, 1);
    o.startup_timeout = 2.0;
    expect_create_fails(&o, "did not answer within 2.0 s", "was stopped");
}

/* Environment b lives in server b mod K, slot b / K: the fake draws its slot, steps and server seed. */
static void test_routing_lives_and_scores(void **unused)
{
    (void)unused;
    ale_env_options o = fake_options("ok", 5, 2);
    o.life_loss_terminal = 1;
    ale_env *e;
    assert_int_equal(ale_env_create(&e, &o, err, sizeof err), 0);
    assert_int_equal(ale_env_num_actions(e), 4);
    attn_env env = ale_env_callbacks(e);
    assert_true(env.thread_safe);
    uint8_t obs[OBS];
    for (int b = 0; b < 5; b++) {
        assert_int_equal(env.reset(env.ctx, b, 7, obs), 0);
        assert_int_equal(obs[0], b / 2);
        assert_int_equal(obs[1], 0);
        assert_int_equal(obs[2], (int)((o.seed * 1000003u + (uint64_t)(b % 2) * 7919u) % 251));
    }
    /* Environment 3: life lost every 3rd step ends the training episode, the game goes on (soft reset keeps
     * the step count); the 9th step ends the game; the score is the sum of raw rewards (action + 1). */
    float reward, total = 0.0f;
    int term, trunc, ends = 0;
    for (int t = 1; t <= 9; t++) {
        assert_int_equal(env.step(env.ctx, 3, 2, obs, &reward, &term, &trunc), 0);
        assert_int_equal(obs[0], 1);
        assert_int_equal(obs[1], t);
        assert_true(reward == 3.0f);
        total += reward;
        assert_int_equal(term, t % 3 == 0);
        assert_int_equal(trunc, 0);
        if (term) {
            ends++;
            float none[4];
            assert_int_equal(ale_env_take_scores(e, none, 4), t == 9 ? 1 : 0);
            if (t == 9) assert_true(none[0] == total);
            assert_int_equal(env.reset(env.ctx, 3, 11, obs), 0);
            assert_int_equal(obs[1], t == 9 ? 0 : t); /* a new game only after the last life */
        }
    }
    assert_int_equal(ends, 3);
    /* The same world stepped all at once agrees with the per-environment view. */
    int actions[5] = {0, 1, 2, 3, 0};
    uint8_t all[5 * OBS];
    float rewards[5];
    uint32_t flags[5];
    assert_int_equal(ale_env_step_all(e, actions, all, rewards, flags), 0);
    for (int b = 0; b < 5; b++) {
        assert_int_equal(all[(size_t)b * OBS], b / 2);
        assert_true(rewards[b] == (float)(actions[b] + 1));
        assert_int_equal(flags[b], 0);
    }
    /* Bad input is an error, not a crash. */
    assert_int_equal(env.step(env.ctx, 0, 4, obs, &reward, &term, &trunc), -1);
    print_message("  message: %s\n", env.error(env.ctx, 0));
    assert_non_null(strstr(env.error(env.ctx, 0), "action 4"));
    ale_env_destroy(e);
}

/* A server misbehaving after 5 answers: the 6th request fails with `needle` in the message, and so does every
 * later call, at once. */
static void expect_step_fails(const char *mode, const char *needle, double timeout)
{
    ale_env_options o = fake_options(mode, 2, 2);
    o.timeout = timeout;
    ale_env *e;
    if (ale_env_create(&e, &o, err, sizeof err)) fail_msg("%s", err);
    attn_env env = ale_env_callbacks(e);
    uint8_t obs[OBS];
    float reward;
    int term, trunc;
    assert_int_equal(env.reset(env.ctx, 0, 1, obs), 0);
    for (int t = 0; t < 4; t++) assert_int_equal(env.step(env.ctx, 0, 1, obs, &reward, &term, &trunc), 0);
    assert_int_equal(env.step(env.ctx, 0, 1, obs, &reward, &term, &trunc), -1);
    const char *msg = env.error(env.ctx, 0);
    print_message("  message: %s\n", msg);
    assert_non_null(strstr(msg, needle));
    assert_non_null(strstr(msg, "ALE server 0/2 (pid "));
    char first[1024];
    snprintf(first, sizeof first, "%s", msg);
    /* Environment 1 lives in the other, healthy server, but the bridge as a whole has failed. */
    assert_int_equal(env.step(env.ctx, 1, 1, obs, &reward, &term, &trunc), -1);
    assert_int_equal(env.reset(env.ctx, 0, 1, obs), -1);
    assert_string_equal(env.error(env.ctx, 1), first);
    assert_string_equal(ale_env_error(e), first);
    ale_env_destroy(e);
}

static void test_crash_mid_episode(void **unused)
{
    (void)unused;
    expect_step_fails("crash", "killed by signal 11", 20.0);
}

static void test_exit_mid_episode(void **unused)
{
    (void)unused;
    expect_step_fails("exit", "exited with status 5", 20.0);
}

static void test_hang_mid_episode(void **unused)
{
    (void)unused;
    expect_step_fails("hang", "did not answer within 2.0 s", 2.0);
}

static void test_garbage(void **unused)
{
    (void)unused;
    expect_step_fails("garbage", "malformed message (bad magic", 20.0);
}

static void test_wrong_size(void **unused)
{
    (void)unused;
    expect_step_fails("bad_size", "malformed message (wrong message size", 20.0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_ale_bridge FIXTURES_DIR\n");
        return 2;
    }
    fixtures = argv[1];
    snprintf(fake_server, sizeof fake_server, "%s/fake_server.py", fixtures);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_interpreter),   cmocka_unit_test(test_missing_script),
        cmocka_unit_test(test_server_exits_at_once),  cmocka_unit_test(test_ale_py_missing),
        cmocka_unit_test(test_server_hangs_at_start), cmocka_unit_test(test_routing_lives_and_scores),
        cmocka_unit_test(test_crash_mid_episode),     cmocka_unit_test(test_exit_mid_episode),
        cmocka_unit_test(test_hang_mid_episode),      cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_wrong_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
