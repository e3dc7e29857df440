"""The OpenAPI 3.1 document of ``/api/v1``, kept as data beside the routes it describes.

A test checks that every route of the ``api`` blueprint is here and nothing else is.
"""

from app.channels import idempotency
from app.drafts import lifecycle, uploads


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _ok(description: str, schema: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _json_body(schema: str, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


DRAFT_ID = {
    "name": "draft_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[Dd][1-9][0-9]{0,8}$"},
    "example": "D42",
}
ERRORS = {
    "400": _error(
        "请求不合规:缺少或写错的字段由 field 指出;请求体不是 JSON 对象时 error 为 bad_json"
    ),
    "401": _error("缺少 API 令牌,或令牌无效、已吊销"),
    "403": _error("令牌无权操作该平台(out_of_scope),或其人员已不是该平台的管理员(not_admin)"),
}
DRAFT_ERRORS = {
    **ERRORS,
    "404": _error("没有这个稿件"),
    "409": _error("稿件或平台的当前状态不允许这样做(如已撤回、平台已停用、内容没有变化)"),
}
TEXT = {"type": "string"}
STAMP = {"type": "string", "format": "date-time"}

CONTENT = {
    "text": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {"text": {**TEXT, "maxLength": lifecycle.LIMITS["text"]}},
    },
    "image": {
        "type": "object",
        "required": ["image_url"],
        "additionalProperties": False,
        "properties": {
            "image_url": {**TEXT, "format": "uri"},
            "caption": {**TEXT, "maxLength": lifecycle.LIMITS["caption"]},
        },
    },
    "article": {
        "type": "object",
        "required": ["title", "content_html"],
        "additionalProperties": False,
        "properties": {
            "title": {**TEXT, "maxLength": lifecycle.LIMITS["title"]},
            "author": {**TEXT, "maxLength": lifecycle.LIMITS["author"]},
            "digest": {**TEXT, "maxLength": lifecycle.LIMITS["digest"]},
            "content_html": {**TEXT, "maxLength": lifecycle.LIMITS["content_html"]},
            "cover_image": {
                **TEXT,
                "description": "封面:http(s) 网址,或 POST /uploads 返回的 ref(upload:<sha256>)",
            },
            "source_url": {**TEXT, "format": "uri"},
        },
    },
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {**TEXT, "description": "稳定的错误代码,如 invalid_input、forbidden"},
            "message": {**TEXT, "description": "给人看的中文说明"},
            "field": {**TEXT, "description": "出错的字段(仅当某一字段出错时)"},
        },
    },
    "Content": {
        "description": "稿件内容,字段由 kind 决定",
        "oneOf": [_ref(f"{kind.capitalize()}Content") for kind in CONTENT],
    },
    **{f"{kind.capitalize()}Content": schema for kind, schema in CONTENT.items()},
    "NewDraft": {
        "type": "object",
        "required": ["platform", "kind", "content"],
        "additionalProperties": False,
        "properties": {
            "platform": {
                **TEXT,
                "example": "jsj-wx",
                "description": "投稿的平台;令牌范围外的一级平台即为单位投稿(第十四条)",
            },
            "contributed_from": {
                **TEXT,
                "description": "单位投稿来自令牌范围内的哪个平台;令牌只有一个平台时可省略",
            },
            "kind": {"enum": list(lifecycle.KINDS)},
            "content": _ref("Content"),
            "flags": {
                "type": "array",
                "items": {"enum": list(lifecycle.FLAGS)},
                "description": "第十一条:涉及重大事件、突发事件、社会敏感问题,须宣传部审核",
            },
            "scheduled_at": {**STAMP, "description": "定时发布时间;未写时区按北京时间"},
            "submit": {"type": "boolean", "default": True, "description": "创建后立即提交审核"},
        },
    },
    "NewVersion": {
        "type": "object",
        "required": ["content"],
        "additionalProperties": False,
        "properties": {
            "content": _ref("Content"),
            "submit": {
                "type": "boolean",
                "default": True,
                "description": "修改后回到「草稿」的稿件(如被退回的)是否重新提交审核",
            },
        },
    },
    "Published": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {"url": {**TEXT, "format": "uri", "description": "手工发布后的页面链接"}},
    },
    "Withdraw": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {**TEXT, "maxLength": 500}},
    },
    "Release": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {
            "reason": {**TEXT, "maxLength": 500, "description": "放行理由"},
            "whitelist": {
                "type": "boolean",
                "default": False,
                "description": "同时把每处命中连同前后文字加入该类别的白名单",
            },
        },
    },
    "Schedule": {
        "type": "object",
        "additionalProperties": False,
        "required": ["scheduled_at"],
        "properties": {
            "scheduled_at": {
                **STAMP,
                "type": ["string", "null"],
                "description": "新的定时发布时间(未写时区按北京时间);null 取消定时",
            }
        },
    },
    "DraftSummary": {
        "type": "object",
        "properties": {
            "id": {**TEXT, "example": "D42"},
            "platform": TEXT,
            "author": {**TEXT, "description": "作者的人员编号"},
            "kind": {"enum": list(lifecycle.KINDS)},
            "status": {"enum": list(lifecycle.STATUSES)},
            "status_label": TEXT,
            "status_reason": TEXT,
            "version": {"type": "integer", "minimum": 1},
            "content_hash": {**TEXT, "description": "当前版本内容的 SHA-256;审核通过针对它"},
            "flags": {"type": "array", "items": {"enum": list(lifecycle.FLAGS)}},
            "scheduled_at": {"type": ["string", "null"], "format": "date-time"},
            "contributed_from": {
                "type": ["string", "null"],
                "description": "单位投稿(第十四条)来自的平台;否则为 null",
            },
            "created_at": STAMP,
            "updated_at": STAMP,
        },
    },
    "Draft": {
        "allOf": [
            _ref("DraftSummary"),
            {
                "type": "object",
                "properties": {
                    "content": _ref("Content"),
                    "version_created_at": STAMP,
                    "review": _ref("ReviewState"),
                    "screening": {
                        "oneOf": [_ref("Screening"), {"type": "null"}],
                        "description": "当前版本的内容检查结果;未提交审核的版本为 null",
                    },
                    "submit_error": {
                        **_ref("Error"),
                        "description": "仅在保存成功而提交审核失败时出现;稿件仍为「草稿」",
                    },
                },
            },
        ]
    },
    "Screening": {
        "type": "object",
        "properties": {
            "lexicon_version": TEXT,
            "verdict": {"enum": ["pass", "warn", "escalate", "block"]},
            "hits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "description": "命中:类别、词语、字段及其在原文中的起止位置(用于高亮)",
                    "properties": {
                        "category": TEXT,
                        "category_zh": TEXT,
                        "term": TEXT,
                        "field": TEXT,
                        "start": {"type": "integer"},
                        "end": {"type": "integer"},
                        "verdict": TEXT,
                        "suggestion": {
                            "type": "string",
                            "description": "错敏:建议改为的规范表述(「采纳」时写入);其他命中为空",
                        },
                        "note": {"type": "string", "description": "建议的说明"},
                        "released": {
                            "type": "boolean",
                            "description": "曾拦截、经党委宣传部放行的命中(现为提示)",
                        },
                    },
                },
            },
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "version": {"type": "integer"},
            "content_hash": TEXT,
            "release": {
                "type": "object",
                "description": "放行:放行人(person、name)、理由(reason)、时间(at);未放行为空",
            },
        },
    },
    "ReviewState": {
        "type": "object",
        "properties": {
            "required": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"signoff": TEXT, "label": TEXT, "rule": TEXT},
                },
            },
            "given": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "signoff": TEXT,
                        "label": TEXT,
                        "person": TEXT,
                        "version": {"type": "integer"},
                        "at": STAMP,
                        "comment": {**TEXT, "description": "审核意见(作者可见);没有时为空"},
                    },
                },
            },
            "missing": {"type": "array", "items": TEXT},
            "complete": {"type": "boolean"},
        },
    },
    "DraftList": {
        "type": "object",
        "properties": {"drafts": {"type": "array", "items": _ref("DraftSummary")}},
    },
    "Upload": {
        "type": "object",
        "properties": {
            "ref": {**TEXT, "description": "填入 content.cover_image", "example": "upload:9f86…"},
            "sha256": TEXT,
            "content_type": {"enum": list(uploads.MAGIC)},
            "size": {"type": "integer", "maximum": uploads.MAX_BYTES},
            "created_at": STAMP,
        },
    },
}

PATHS = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "本文档",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 文档"}},
        }
    },
    "/api/v1/drafts": {
        "post": {
            "summary": "创建稿件(默认随即提交审核)",
            "parameters": [
                {
                    "name": idempotency.HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.KEY_MAX},
                    "description": "同一令牌 24 小时内重发同一请求,得到第一次的响应,不重复创建",
                }
            ],
            "requestBody": _json_body("NewDraft"),
            "responses": {
                "201": _ok("已创建;重放的响应带 Idempotent-Replayed: true", "Draft"),
                **ERRORS,
                "409": _error("平台不在运行中,或同一键的请求仍在处理"),
                "413": _error("请求体过大"),
                "415": _error("请求体不是 application/json"),
                "422": _error("Idempotency-Key 已用于内容不同的请求"),
            },
        },
        "get": {
            "summary": "列出稿件,新的在前",
            "parameters": [
                {"name": "platform", "in": "query", "schema": TEXT},
                {"name": "status", "in": "query", "schema": {"enum": list(lifecycle.STATUSES)}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                },
            ],
            "responses": {"200": _ok("令牌可用平台上的稿件", "DraftList"), **ERRORS},
        },
    },
    "/api/v1/drafts/{draft_id}": {
        "get": {
            "summary": "稿件、当前版本内容与审核进度",
            "parameters": [DRAFT_ID],
            "responses": {"200": _ok("稿件", "Draft"), **DRAFT_ERRORS},
        }
    },
    "/api/v1/drafts/{draft_id}/versions": {
        "post": {
            "summary": "保存新版本;此前的审核通过作废",
            "parameters": [DRAFT_ID],
            "requestBody": _json_body("NewVersion"),
            "responses": {"201": _ok("新版本已保存", "Draft"), **DRAFT_ERRORS},
        }
    },
    "/api/v1/drafts/{draft_id}/withdraw": {
        "post": {
            "summary": "撤回稿件",
            "parameters": [DRAFT_ID],
            "requestBody": _json_body("Withdraw", required=False),
            "responses": {"200": _ok("已撤回", "Draft"), **DRAFT_ERRORS},
        }
    },
    "/api/v1/drafts/{draft_id}/release": {
        "post": {
            "summary": "放行被拦截的稿件(党委宣传部审核人):送审,命中标为已放行",
            "parameters": [DRAFT_ID],
            "requestBody": _json_body("Release"),
            "responses": {"200": _ok("已放行并送审", "Draft"), **DRAFT_ERRORS},
        },
    },
    "/api/v1/drafts/{draft_id}/schedule": {
        "post": {
            "summary": "修改或取消定时发布;内容不变,已有的审核签发仍然有效(签发对应内容版本)",
            "parameters": [DRAFT_ID],
            "requestBody": _json_body("Schedule"),
            "responses": {"200": _ok("发布时间已更改", "Draft"), **DRAFT_ERRORS},
        }
    },
    "/api/v1/drafts/{draft_id}/published": {
        "post": {
            "summary": "报告手工发布(无发布接口的平台):后台核对页面与审核版本,记录为已发布",
            "parameters": [DRAFT_ID],
            "requestBody": _json_body("Published"),
            "responses": {
                "202": _ok("已受理,正在核对;status_url(GET)说明核对结果", "Draft"),
                **DRAFT_ERRORS,
            },
        },
        "get": {
            "summary": "最近一次报告的核对结果:checking、match、differs 或 failed(附原因)",
            "parameters": [DRAFT_ID],
            "responses": {"200": _ok("verification 为核对结果", "Draft"), **DRAFT_ERRORS},
        },
    },
    "/api/v1/uploads": {
        "post": {
            "summary": "上传封面图片(JPEG 或 PNG,最多 2 MB,按文件内容判断类型)",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "contentMediaType": "image/*"}
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _ok("已保存;同样的图片只存一份", "Upload"),
                **ERRORS,
                "413": _error("图片超过 2 MB,或未用于稿件的上传图片超过个人配额(upload_quota)"),
                "415": _error("不是 JPEG 或 PNG,或声明的类型与内容不符"),
            },
        }
    },
}

SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "签发 Qianfa 投稿 API",
        "version": "1.0.0",
        "description": (
            "编辑和内容管理系统向签发投稿:稿件经第一责任人(必要时党委宣传部)审核通过后才会发布。"
            "每个请求带 Authorization: Bearer <API 令牌>;"
            "令牌由宣传部用 qianfa api-token issue 签发,"
            "只能用于指定的平台,且其人员须仍是该平台的管理员。错误统一为 "
            '{"error": 代码, "message": 中文说明, "field": 出错字段}。'
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
    },
    "paths": PATHS,
}
