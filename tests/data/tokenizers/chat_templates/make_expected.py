# Renders the chat templates of the tokenizer_config.json files here with Python jinja2 configured as
# transformers does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, its tojson and
# raise_exception), producing expected.json for tests/unit/text/chat_template_test.cpp.
import gzip, json, os
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

here = os.path.dirname(os.path.abspath(__file__))

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def raise_exception(message):
    raise TemplateError(message)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

def load(name):
    p = os.path.join(here, name)
    if os.path.exists(p):
        return json.load(open(p))
    return json.load(gzip.open(p + ".gz"))

configs = {
    "Qwen__Qwen3": load("Qwen__Qwen3.tokenizer_config.json"),
    "meta-llama__Meta-Llama-3-8B-Instruct": load("meta-llama__Meta-Llama-3-8B-Instruct.tokenizer_config.json"),
    "google__gemma-3": load("google__gemma-3.tokenizer_config.json"),
    "microsoft__Phi-3-mini-4k-instruct": json.load(open(os.path.join(here, "..", "microsoft__Phi-3-mini-4k-instruct", "tokenizer_config.json"))),
}

tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city, in °C",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
conversations = [
    {"messages": [{"role": "user", "content": "Hello!"}]},
    {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "  What is 2+2?  "},
                  {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3? Ünïcödé 你好"}]},
    {"messages": [{"role": "user", "content": "Think first."},
                  {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nThe answer."},
                  {"role": "user", "content": "Again"}]},
    {"messages": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                  {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "assistant", "content": "21 degrees."}],
     "tools": [tool]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": " Describe "}, {"type": "image"}]}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
]

out = []
for name, cfg in configs.items():
    specials = {k: (v if isinstance(v, str) else (v or {}).get("content") if isinstance(v, dict) else v)
                for k, v in cfg.items() if k.endswith("_token") and k != "add_bos_token"}
    tmpl = env.from_string(cfg["chat_template"])
    for i, conv in enumerate(conversations):
        for agp in (False, True):
            for thinking in ((None, False) if name == "Qwen__Qwen3" else (None,)):
                kwargs = dict(specials)
                kwargs.update(messages=conv["messages"], tools=conv.get("tools"), add_generation_prompt=agp)
                if thinking is not None:
                    kwargs["enable_thinking"] = thinking
                case = {"tokenizer": name, "conversation": i, "add_generation_prompt": agp}
                if thinking is not None:
                    case["enable_thinking"] = thinking
                try:
                    case["rendered"] = tmpl.render(**kwargs)
                except TemplateError as e:
                    case["error"] = str(e)
                except Exception as e:  # templates that cannot handle a conversation shape (e.g. list content)
                    case["error"] = type(e).__name__ + ": " + str(e)
                out.append(case)

json.dump({"conversations": conversations, "cases": out}, open(os.path.join(here, "expected.json"), "w"),
          ensure_ascii=False, indent=1)
print(len(out), "cases")
