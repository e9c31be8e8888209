"""Which part of loading a model with a progress display crashes a CUDA build (issue 15)?

python3 crash_probe.py GGUF            -> runs every variant in a subprocess, prints rc each
python3 crash_probe.py GGUF VARIANT    -> one variant
"""
import ctypes
import faulthandler
import logging
import subprocess
import sys
import time

faulthandler.enable()
VARIANTS = ["old", "old-nolog", "old-norich", "bare", "nocb", "new"]


def run(path: str, variant: str) -> None:
    import llama_cpp
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, force_terminal=True)
    logging.basicConfig(level="INFO", format="%(message)s", handlers=[RichHandler(console=console)])
    if variant == "new":
        sys.path.insert(0, "src")
        from antiphon.engine.llamacpp_model import LlamaModel
        from antiphon.engine.model_source import ModelSource
        with Progress(TextColumn("loading"), BarColumn(), TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("x", total=1.0)
            model, seconds = LlamaModel.load(ModelSource(__import__("pathlib").Path(path), "m"),
                                             lambda f: progress.update(task, completed=f))
        print(f"new: loaded in {seconds:.2f}s, {model.layer_count} layers", flush=True)
        return
    log = logging.getLogger("llama")

    @llama_cpp.llama_log_callback
    def forward(level, text, _):
        message = text.decode("utf-8", errors="replace").rstrip()
        if message and level != 5:
            log.log(logging.DEBUG, "%s", message)

    if variant != "old-nolog":
        llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    calls = []
    if variant.startswith("old"):
        with Progress(TextColumn("loading"), BarColumn(), TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("x", total=1.0)

            def on_progress(fraction, _):
                calls.append(fraction)
                if variant != "old-norich":
                    progress.update(task, completed=float(fraction))
                return True

            callback = llama_cpp.llama_progress_callback(on_progress)
            params.progress_callback = callback
            handle = llama_cpp.llama_model_load_from_file(path.encode(), params)
    elif variant == "bare":
        def on_progress(fraction, _):
            calls.append(fraction)
            return True
        callback = llama_cpp.llama_progress_callback(on_progress)
        params.progress_callback = callback
        handle = llama_cpp.llama_model_load_from_file(path.encode(), params)
    else:
        handle = llama_cpp.llama_model_load_from_file(path.encode(), params)
    print(f"{variant}: handle {bool(handle)}, {len(calls)} progress calls, last {calls[-1:] }", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run(sys.argv[1], sys.argv[2])
    else:
        for variant in VARIANTS:
            started = time.time()
            done = subprocess.run([sys.executable, "-X", "faulthandler", __file__, sys.argv[1], variant],
                                  capture_output=True, text=True, timeout=45)
            tail = (done.stdout + done.stderr).strip().splitlines()[-12:]
            print(f"== {variant}: rc {done.returncode} in {time.time() - started:.1f}s")
            for line in tail:
                print("   ", line[:300])
