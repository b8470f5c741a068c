"""Run inside the image by test_image_contents: each feature an amputated image aborted on.

Prints one JSON object, feature -> whether it worked; an abort would end the process first.
"""

import json
import os
import tempfile

import av
import boto3
import cv2
import numpy as np
import pydantic.v1

rng = np.random.default_rng(7)
a = rng.random((200, 200))
checks = {}
checks["cv2.gemm"] = bool(np.allclose(cv2.gemm(a, a, 1, None, 0), a @ a))
checks["numpy.fft"] = bool(np.allclose(np.fft.ifft(np.fft.fft(a[0])).real, a[0]))
checks["numpy.linalg"] = bool(np.allclose(np.linalg.inv(a) @ a, np.eye(200), atol=1e-6))
checks["numpy.ma"] = int(np.ma.masked_less(a, 0.5).count()) > 0


def video_file(path, codec):
    with av.open(path, "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 128, "yuv420p"
        for i in range(5):
            picture = np.full((128, 128, 3), i * 40, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


folder = tempfile.mkdtemp()
path = os.path.join(folder, "av1.mp4")
video_file(path, "libsvtav1")
with av.open(path) as video:
    checks["av.av1_decode"] = len(list(video.decode(video=0))) == 5
checks["cv2.VideoCapture.av1"] = cv2.VideoCapture(path).isOpened()  # opens; no AV1 decoder
h264 = os.path.join(folder, "h264.mp4")
video_file(h264, "libx264")
ok, frame = cv2.VideoCapture(h264).read()
checks["cv2.VideoCapture.h264"] = bool(ok) and frame.shape[:2] == (128, 128)
writer_path = os.path.join(folder, "vp.avi")
writer = cv2.VideoWriter(writer_path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
for i in range(3):
    writer.write(np.full((64, 64, 3), i * 60, np.uint8))
writer.release()
checks["cv2.VideoWriter"] = cv2.VideoCapture(writer_path).read()[0]
checks["sts"] = (
    boto3.client("sts", region_name="us-east-1").meta.service_model.service_name == "sts"
)
checks["sso-oidc"] = bool(boto3.client("sso-oidc", region_name="us-east-1"))


class Old(pydantic.v1.BaseModel):
    n: int


checks["pydantic.v1"] = Old(n="3").n == 3
print(json.dumps(checks))
